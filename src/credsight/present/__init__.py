"""How answers are shown to people: figures, the questions the pages and the report share, the
self-contained HTML report, and the Dash dashboard (dashboard/)."""
