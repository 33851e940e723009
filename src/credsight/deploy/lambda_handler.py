"""credsight's collector as an AWS Lambda function: a thin wrapper over the same collector code.

Events (the collector template's state machine sends the first three; a schedule may send any):

    {"step": "list"}                               -> {"run_id": R, "accounts": N, "batches": [0, 1, ...]}
    {"step": "collect", "run_id": R, "batch": i}   -> that batch's summary
    {"step": "finish", "run_id": R}                -> compaction, summaries and the day's findings
    anything else (an EventBridge Scheduler event) -> list, collect every account, finish, in one call

`list` discovers the organization once and writes the plan (each account with its name and OU)
to the store, so that batches do not ask Organizations again and the state machine's payload
stays small whatever the size of the organization. Each batch is collected as a run of its
own: a batch retried after a timeout writes new files under a new run id, never over another
invocation's files, and the views take the newest run of each account and day.

Settings come from the environment: CREDSIGHT_STORE (s3://bucket/prefix), CREDSIGHT_ROLE_NAME,
CREDSIGHT_EXTERNAL_ID, CREDSIGHT_CONCURRENCY, CREDSIGHT_BATCH_SIZE; AWS_ENDPOINT_URL for
emulators. Listing and collecting import nothing of the dashboard or of DuckDB; the Finish step
alone uses DuckDB, to evaluate the findings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from credsight.errors import UserFixable
from credsight.sources.aws import ORGANIZATIONS_RETRIES, Aws, RoleSettings
from credsight.sources.collect import Settings, Summary, collect
from credsight.sources.credential_report import Timing
from credsight.sources.organizations import Account, choose_accounts
from credsight.store import Store, new_run_id

LOG = logging.getLogger("credsight")
SAFETY_SECONDS = 60  # what a batch leaves of Lambda's 15 minutes to write its last files


@dataclasses.dataclass(frozen=True)
class LambdaSettings:
    store: str
    role: RoleSettings
    concurrency: int
    batch_size: int

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> LambdaSettings:
        store = environment.get("CREDSIGHT_STORE", "")
        if not store:
            raise UserFixable("CREDSIGHT_STORE is not set; the function's environment must name the s3:// store")
        try:
            concurrency = int(environment.get("CREDSIGHT_CONCURRENCY", "16"))
            batch_size = int(environment.get("CREDSIGHT_BATCH_SIZE", "400"))
        except ValueError:
            raise UserFixable("CREDSIGHT_CONCURRENCY and CREDSIGHT_BATCH_SIZE must be whole numbers") from None
        role = RoleSettings(
            role_name=environment.get("CREDSIGHT_ROLE_NAME") or RoleSettings.role_name,
            external_id=environment.get("CREDSIGHT_EXTERNAL_ID") or None,
            session_name="credsight-lambda",
        )
        return cls(store, role, max(1, concurrency), max(1, batch_size))


def handler(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    logging.getLogger().setLevel(logging.INFO)
    settings = LambdaSettings.from_environment(os.environ)
    store = Store(settings.store, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    aws = Aws(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), max_connections=settings.concurrency)
    event = dict(event or {})
    step = event.get("step")
    if step is None:  # a scheduled event: the whole run in this invocation
        run_id, plan = plan_run(store, aws, settings)
        batches = [collect_batch(store, aws, settings, run_id, b, context, plan) for b in range(batch_count(plan))]
        return {**finish_run(store, run_id), "batches": batches}
    if step == "list":
        run_id, plan = plan_run(store, aws, settings)
        return {"run_id": run_id, "accounts": len(plan["accounts"]), "batches": list(range(batch_count(plan)))}
    if step == "collect":
        run_id, batch = str(required(event, "run_id")), int(required(event, "batch"))
        return collect_batch(store, aws, settings, run_id, batch, context, json.loads(store.read_plan(run_id)))
    if step == "finish":
        return finish_run(store, str(required(event, "run_id")))
    raise UserFixable(f"unknown step {step!r}; the steps are list, collect and finish (none: the whole run)")


def required(event: Mapping[str, Any], key: str) -> Any:
    if event.get(key) is None:
        raise UserFixable(f"the {event.get('step')} step needs {key!r} in its event; see the state machine")
    return event[key]


def plan_run(store: Store, aws: Aws, settings: LambdaSettings) -> tuple[str, dict[str, Any]]:
    """Discover the accounts and write the plan: who we are, the accounts, how they are batched."""
    caller = aws.caller()
    accounts, with_metadata = choose_accounts(
        lambda: aws.client("organizations", retries=ORGANIZATIONS_RETRIES), caller.account_id
    )
    run_id = new_run_id()
    plan = {
        "caller": caller.account_id,
        "partition": caller.partition,
        "batch_size": settings.batch_size,
        "with_metadata": with_metadata,
        "accounts": [account_record(a) for a in accounts],
    }
    store.write_plan(run_id, json.dumps(plan).encode())
    LOG.info(json.dumps({"run_id": run_id, "accounts": len(accounts), "batches": batch_count(plan)}))
    return run_id, plan


def batch_count(plan: Mapping[str, Any]) -> int:
    size = int(plan["batch_size"])
    return (len(plan["accounts"]) + size - 1) // size


def collect_batch(
    store: Store,
    aws: Aws,
    settings: LambdaSettings,
    run_id: str,
    batch: int,
    context: Any,
    plan: Mapping[str, Any],
) -> dict[str, Any]:
    """Collect one batch of the plan, as a run of its own, within the invocation's time."""
    if not 0 <= batch < batch_count(plan):
        raise UserFixable(f"batch {batch} is not in the plan of run {run_id}, which has {batch_count(plan)} batches")
    size = plan["batch_size"]
    chosen = [account_from(record) for record in plan["accounts"][batch * size : (batch + 1) * size]]
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    timing = Timing(deadline=max(30.0, min(600.0, remaining - SAFETY_SECONDS)))
    summary = collect(
        store,
        aws,
        plan["partition"],
        chosen,
        Settings(role=settings.role, timing=timing, concurrency=settings.concurrency),
        caller_account=plan["caller"],
        run_id=new_run_id(),
        with_metadata=plan["with_metadata"],
        on_outcome=lambda outcome: LOG.info(json.dumps(outcome.record())),
    )
    return batch_summary(summary, run_id, batch)


def finish_run(store: Store, run_id: str) -> dict[str, Any]:
    """Merge the day's parts into each month's file, summarise them, and store the day's findings.

    The findings are those of `credsight findings --format json` for each account's newest
    snapshot, written to <store>/findings/snapshot_date=<day>/findings-<run id>.json.
    """
    from credsight.formats.findings import marked_records
    from credsight.query import Database
    from credsight.query.maintenance import compact_and_summarise
    from credsight.rules.findings import evaluate
    from credsight.rules.summaries import SUMMARY_KINDS

    merged, _summaries = compact_and_summarise(store, SUMMARY_KINDS)
    with Database(store) as database:
        evaluation = evaluate(database)
    _marked, found = marked_records(evaluation.findings, [], dt.datetime.now(dt.UTC).date())
    path = store.write_findings(evaluation.date, run_id, json.dumps(found, indent=1).encode())
    by_severity = dict(Counter(record["severity"] for record in found))
    summary = {"run_id": run_id, "compacted_parts": merged, "findings": len(found), "by_severity": by_severity}
    LOG.info(json.dumps({**summary, "findings_file": path}))
    return {**summary, "findings_file": path}


def account_record(account: Account) -> dict[str, Any]:
    record = dataclasses.asdict(account)
    record["joined"] = account.joined.isoformat() if account.joined else None
    return record


def account_from(record: Mapping[str, Any]) -> Account:
    joined = dt.datetime.fromisoformat(record["joined"]) if record.get("joined") else None
    return Account(**{**record, "joined": joined, "ou_ids": tuple(record.get("ou_ids") or ())})


def batch_summary(summary: Summary, run_id: str, batch: int) -> dict[str, Any]:
    failed = summary.failed
    return {
        "run_id": run_id,
        "batch": batch,
        "batch_run_id": summary.run_id,
        "collected": summary.count("success"),
        "skipped": summary.count("skipped"),
        "failed": len(failed),
        "failures": [{"account_id": o.account.id, "error_class": o.error_class} for o in failed],
    }
