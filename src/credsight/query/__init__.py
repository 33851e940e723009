"""DuckDB over the store: the views (views.py), the Database every reader asks (database.py), and
which accounts a filter selects (scope.py)."""

from credsight.query.database import Database, Result

__all__ = ["Database", "Result"]
