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
invocation's files, and the views take the newest run of each account and day. An account still
being collected when the invocation nears its end is recorded as `timeout`; an account of the plan
with no attempt recorded by the Finish step (its batch's invocation raised, or Lambda stopped it, and
the state machine went on) is recorded then as `batch_failed`: no planned account goes unrecorded.

The list step also reads IAM Identity Center (when an instance is found; CREDSIGHT_IDENTITY_CENTER
on | off | auto) and stores its snapshot as a run of its own; when that fails the accounts are still
collected, and the step's answer and log say why.

Settings come from the environment: CREDSIGHT_STORE (s3://bucket/prefix), CREDSIGHT_ROLE_NAME,
CREDSIGHT_EXTERNAL_ID, CREDSIGHT_CONCURRENCY, CREDSIGHT_BATCH_SIZE, CREDSIGHT_IDENTITY_CENTER;
AWS_ENDPOINT_URL for emulators. Listing and collecting import nothing of the dashboard or of DuckDB; the Finish step
alone uses DuckDB, to evaluate the findings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
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
from credsight.store.runs import Failure, Run

LOG = logging.getLogger("credsight")
SAFETY_SECONDS = 60  # what a batch leaves of Lambda's 15 minutes to write its last files
MIN_ACCOUNT_SECONDS = 5.0  # an account's time when the invocation has less left than SAFETY_SECONDS
BATCH_FAILED = "batch_failed"  # the error class of an account whose batch's invocation failed


@dataclasses.dataclass(frozen=True)
class LambdaSettings:
    store: str
    role: RoleSettings
    concurrency: int
    batch_size: int
    identity_center: str = "auto"  # auto: when an instance is found; on; off

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
        identity = environment.get("CREDSIGHT_IDENTITY_CENTER") or "auto"
        if identity not in ("auto", "on", "off"):
            raise UserFixable(f"CREDSIGHT_IDENTITY_CENTER={identity!r}: use auto, on or off")
        return cls(store, role, max(1, concurrency), max(1, batch_size), identity)


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
        identity = identity_center_run(store, aws, settings, plan["caller"], context)
        batches = [collect_batch(store, aws, settings, run_id, b, context, plan) for b in range(batch_count(plan))]
        return {**finish_run(store, run_id), "batches": batches, "identity_center": identity}
    if step == "list":
        run_id, plan = plan_run(store, aws, settings)
        identity = identity_center_run(store, aws, settings, plan["caller"], context)
        listed = {"run_id": run_id, "accounts": len(plan["accounts"]), "batches": list(range(batch_count(plan)))}
        return {**listed, "identity_center": identity}
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


def identity_center_run(
    store: Store, aws: Aws, settings: LambdaSettings, caller: str, context: Any
) -> dict[str, object]:
    """Read IAM Identity Center as a run of its own (see sources/identity_center.py): its outcome, as logged."""
    from credsight.sources.collect import collect_identity
    from credsight.sources.identity_center import IdentityCenterSettings

    if settings.identity_center == "off":
        return {"status": "off"}
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    timing = Timing(deadline=max(30.0, min(600.0, remaining - SAFETY_SECONDS)))
    wanted = IdentityCenterSettings(settings.identity_center, settings.concurrency, timing)
    outcome = collect_identity(Run(store), aws, caller, dt.datetime.now(dt.UTC).date(), wanted)
    LOG.info(json.dumps(outcome.record()))
    return outcome.summary()


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
    # Each account may take what the invocation has left, less the time to write the last batch:
    # one still waiting for its report then ends `timeout`, recorded, not killed with the function.
    timing = Timing(deadline=max(MIN_ACCOUNT_SECONDS, min(600.0, remaining - SAFETY_SECONDS)))
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
    """Record the planned accounts no batch recorded, merge the day's parts into each month's file,
    summarise them, and store the day's findings.

    The findings are those of `credsight findings --format json` for each account's newest
    snapshot, written to <store>/findings/snapshot_date=<day>/findings-<run id>.json.
    """
    from credsight.formats.findings import marked, write_records
    from credsight.query import Database
    from credsight.query.maintenance import compact_and_summarise
    from credsight.rules.findings import evaluate
    from credsight.rules.kept import keep_answers
    from credsight.rules.summaries import SUMMARY_KINDS

    recorded = record_unattempted(store, run_id)
    merged = compact_and_summarise(store, SUMMARY_KINDS).parts
    troubles = keep_answers(store)
    with Database(store) as database:
        evaluation = evaluate(database)
    findings = marked(evaluation.findings, [], dt.datetime.now(dt.UTC).date())
    written = io.StringIO()
    write_records(findings, written)
    path = store.write_findings(evaluation.date, run_id, written.getvalue().encode())
    by_severity = dict(Counter(findings.column("severity").to_pylist()))
    summary = {
        "run_id": run_id,
        "batch_failed": recorded,
        "compacted_parts": merged,
        "findings": findings.num_rows,
        "by_severity": by_severity,
        **({"not_kept": troubles} if troubles else {}),
    }
    summary |= publish_digests(store, os.environ)
    LOG.info(json.dumps({**summary, "findings_file": path}))
    return {**summary, "findings_file": path}


def record_unattempted(store: Store, run_id: str) -> int:
    """Record as `batch_failed` each account of the plan with no attempt recorded since the run was
    planned: its batch's invocation failed (the state machine keeps the error and goes on). A batch that
    wrote some accounts before it failed, or that was retried, leaves only the others. How many."""
    from credsight.query import Database

    plan = json.loads(store.read_plan(run_id))
    size = int(plan["batch_size"])
    planned = dt.datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    with Database(store) as database:
        attempted = database.sql(
            "SELECT DISTINCT account_id FROM runs WHERE finished_at >= $planned AND kind = 'credential_report'",
            {"planned": planned},
        )
    seen = set(attempted.table.column("account_id").to_pylist())
    failures = [
        Failure(
            record["id"],
            BATCH_FAILED,
            f"batch {number // size} of run {run_id} recorded no attempt: its Lambda invocation failed or was "
            "stopped (the state machine's execution history has the error); the next run collects it again",
            planned.date(),
        )
        for number, record in enumerate(plan["accounts"])
        if record["id"] not in seen
    ]
    if failures:
        Run(store).write([], failures=failures)
        LOG.info(json.dumps({"run_id": run_id, "batch_failed": [f.account_id for f in failures]}))
    return len(failures)


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
        # Counts, not accounts: a state's payload is at most 256 KB (which accounts: the runs view).
        "failed_by_class": dict(Counter(str(o.error_class) for o in failed)),
    }


# What the Finish step's notifications call: the collector template grants exactly these (iam_policies.py),
# the secret's only when the stack names one.
PUBLISH_PERMISSIONS = ("sns:Publish",)
SECRET_PERMISSIONS = ("secretsmanager:GetSecretValue",)
SNS_SUBJECT_LIMIT = 100  # characters (SNS Publish: Subject)


@dataclasses.dataclass(frozen=True)
class NotifySettings:
    """What the Finish step tells, and where: the stack's SNS topic, apprise URLs kept in a secret."""

    topic: str | None = None  # CREDSIGHT_NOTIFY_TOPIC: the topic's ARN
    secret: str | None = None  # CREDSIGHT_NOTIFY_SECRET: a secret's name whose value lists apprise URLs
    min_severity: str = "high"  # CREDSIGHT_NOTIFY_MIN_SEVERITY
    dashboard_url: str | None = None  # CREDSIGHT_DASHBOARD_URL, for the digest's links
    allowed_regions: tuple[str, ...] = ()  # CREDSIGHT_ALLOWED_REGIONS (commas), for key_outside_allowed_regions

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> NotifySettings:
        from credsight.rules.severity import SEVERITIES

        severity = environment.get("CREDSIGHT_NOTIFY_MIN_SEVERITY") or "high"
        if severity not in SEVERITIES:
            raise UserFixable(f"CREDSIGHT_NOTIFY_MIN_SEVERITY={severity!r} is not one of {', '.join(SEVERITIES)}")
        regions = environment.get("CREDSIGHT_ALLOWED_REGIONS", "")
        return cls(
            topic=environment.get("CREDSIGHT_NOTIFY_TOPIC") or None,
            secret=environment.get("CREDSIGHT_NOTIFY_SECRET") or None,
            min_severity=severity,
            dashboard_url=environment.get("CREDSIGHT_DASHBOARD_URL") or None,
            allowed_regions=tuple(r.strip() for r in regions.split(",") if r.strip()),
        )


def publish_digests(store: Store, environment: Mapping[str, str]) -> dict[str, Any]:
    """Tell the stack's SNS topic, and the apprise URLs of its secret, what they were not told yet: the
    digests of `credsight notify`, with the same watermarks in the store (a failed delivery is tried again
    at the next run; it does not fail this one). {} when the stack names neither."""
    settings = NotifySettings.from_environment(environment)
    if settings.topic is None and settings.secret is None:
        return {}
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from credsight.notify.delivery import Delivery
    from credsight.notify.delivery import deliver as deliver_apprise
    from credsight.notify.digest import Digest
    from credsight.notify.routes import Route
    from credsight.notify.sending import Options, notify, summary
    from credsight.rules.changes import EventSettings

    endpoint = environment.get("AWS_ENDPOINT_URL") or None
    routes = []
    if settings.topic:
        routes.append(Route(f"sns-topic:{settings.topic}", settings.min_severity, name="the stack's SNS topic"))
    if settings.secret:
        secrets = boto3.client("secretsmanager", endpoint_url=endpoint)
        value = secrets.get_secret_value(SecretId=settings.secret)["SecretString"]
        for number, url in enumerate(apprise_urls(value), 1):
            routes.append(Route(url, settings.min_severity, name=f"URL #{number} of secret {settings.secret}"))
    sns = boto3.client("sns", endpoint_url=endpoint)

    def deliver(route: Route, digest: Digest) -> Delivery:
        if not route.destination.startswith("sns-topic:"):
            try:
                return deliver_apprise(route, digest)
            except ImportError:
                return Delivery(
                    False, "apprise is not in this Lambda package: rebuild it with `credsight deploy package`"
                )
        try:
            topic = route.destination.removeprefix("sns-topic:")
            sns.publish(TopicArn=topic, Subject=digest.title[:SNS_SUBJECT_LIMIT], Message=digest.text)
        except (BotoCoreError, ClientError) as e:
            return Delivery(False, str(e))
        return Delivery(True)

    options = Options(
        dashboard_url=settings.dashboard_url,
        settings=EventSettings(allowed_regions=settings.allowed_regions),
    )
    outcomes = notify(store, routes, options, deliver)
    for outcome in outcomes:
        delivery = outcome.delivery
        record = {
            "destination": outcome.route.name,
            "events": outcome.digest.events,
            "findings": outcome.digest.findings,
        }
        if delivery is not None and not delivery.accepted:
            LOG.error(json.dumps({**record, "delivered": False, "reason": delivery.reason}))
        else:
            LOG.info(json.dumps({**record, "delivered": delivery is not None}))
    return {"notifications": summary(outcomes)}


def apprise_urls(secret: str) -> list[str]:
    """The apprise URLs a secret holds: a JSON list of texts, or one URL per line."""
    text = secret.strip()
    if text.startswith("["):
        try:
            urls = json.loads(text)
        except ValueError:
            raise UserFixable("the notification secret starts with [ but is not a JSON list of URLs") from None
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            raise UserFixable("the notification secret must be a JSON list of apprise URLs (texts)")
        return [url.strip() for url in urls if url.strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
