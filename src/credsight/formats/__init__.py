"""Writing rows out: CSV and JSON safe for spreadsheets (exports.py); findings as JSON records, OCSF and ASFF
(findings.py)."""
