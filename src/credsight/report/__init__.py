"""The IAM credential report: its columns, markers and typed schema (model.py), and CSV to Arrow (parser.py)."""
