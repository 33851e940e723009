"""The summaries `credsight compact` keeps beside each report part, so that readers skip a month's rows:
when each user last passed each rule (first-seen dates, history.py), when each access key first
showed each region and service (the change log, changes.py), and the failing rows per rule, account
and day (the overview, the compliance matrix and the trends, counts.py). Passed to query.maintenance as data.
"""

from __future__ import annotations

from credsight.rules.changes import KEY_FIRST_USES_KIND
from credsight.rules.counts import RULE_COUNTS_KIND
from credsight.rules.history import RULE_PASSES_KIND

SUMMARY_KINDS = (RULE_PASSES_KIND, KEY_FIRST_USES_KIND, RULE_COUNTS_KIND)
