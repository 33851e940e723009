"""A collector run slowed by 50 ms of latency per call, for a test to SIGKILL mid-run.

python -m tests.collect_child ENDPOINT STORE
"""

from __future__ import annotations

import sys

import boto3

from credsight.cli.collect import CollectRequest, run_collect
from credsight.sources import collect
from credsight.sources.aws import Aws
from credsight.store import Store
from tests.aws_org import Faults


def main() -> None:
    endpoint, store = sys.argv[1:3]
    collect.BATCH_REPORTS = 3  # commit often, so the kill lands between batches
    session = boto3.Session(region_name="us-east-1")
    Faults(session).latency = 0.05
    aws = Aws(session, endpoint_url=endpoint, max_connections=4)
    try:
        sys.exit(run_collect(Store(store), CollectRequest(concurrency=4, endpoint_url=endpoint), aws))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
