"""The store: append-only Parquet files in a Hive layout, local or on S3 (see files.py), every table's
schema (schemas.py), the runs that write it (runs.py), the counts written with them (rollups.py),
compaction (compaction.py) and the summaries kept beside it (derived.py)."""

from credsight.store.files import Part, Store, check_run_id, new_run_id

__all__ = ["Part", "Store", "check_run_id", "new_run_id"]
