"""The summaries `credsight compact` keeps beside each report part, so that readers skip a month's rows:
when each user last passed each rule (first-seen dates, history.py) and when each access key first
showed each region and service (the change log, changes.py). Passed to query.maintenance as data.
"""

from __future__ import annotations

from credsight.rules.changes import KEY_FIRST_USES_KIND
from credsight.rules.history import RULE_PASSES_KIND

SUMMARY_KINDS = (RULE_PASSES_KIND, KEY_FIRST_USES_KIND)
