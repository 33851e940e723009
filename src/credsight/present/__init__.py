"""How answers are shown: exports, tables, and (later) the dashboard and the static report."""
