"""Findings written out: plain JSON records, OCSF Detection Finding (class 2004), and ASFF for Security Hub.

Each format is built a column at a time from the marked findings (Arrow), so 100,000 findings are written
in about a second; `records` gives the same records as Python dicts for code that wants them (the digests).
`tests/test_findings_outputs.py` holds the record-at-a-time definitions these reproduce byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from credsight.formats.joined import Text, write_rows
from credsight.formats.text import (
    JsonRecords,
    Member,
    compact_json,
    json_object,
    json_values,
    object_text,
    raw_json_field,
)
from credsight.report.model import ROOT_USER
from credsight.rules.catalogue import RULES, Rule
from credsight.rules.exceptions import AcceptedRisk, mark

OCSF_VERSION = "1.1.0"
OCSF_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
OCSF_AWS_ACCOUNT = 10  # Account.type_id
ASFF_SCHEMA_VERSION = "2018-10-08"
ASFF_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
# `findings --format csv`: the finding, its accepted risk, the evidence as JSON text (the report embeds the same).
CSV_COLUMNS = (
    "rule",
    "severity",
    "status",
    "account_id",
    "account_name",
    "user",
    "arn",
    "snapshot_date",
    "first_seen",
    "evidence",
    "exception_reason",
    "exception_owner",
    "exception_expires",
)
CIS_V1, CIS_V5 = "CIS AWS Foundations Benchmark v1.4.0/", "CIS AWS Foundations Benchmark v5.0.0/"


def product_version() -> str:
    try:
        return version("credsight")
    except PackageNotFoundError:  # running from a source tree
        return "0"


def finding_id(rule: str, account: str, user: str) -> str:
    """Stable across runs: the same rule, account and user give the same id."""
    return hashlib.sha256(f"{rule}/{account}/{user}".encode()).hexdigest()[:32]


def marked(findings: pa.Table, risks: Sequence[AcceptedRisk], today: dt.date) -> pa.Table:
    """The findings with accepted risks marked (status, exception_reason, _owner, _expires)."""
    return mark(findings, risks, today)


def record_table(findings: pa.Table, rules: Sequence[Rule] = RULES) -> pa.Table:
    """The marked findings as the columns of a JSON record, in order: the finding, its rule's metadata,
    the evidence (JSON text), the accepted risk. `findings` carries `evidence_json` (json_pretty's text)."""
    catalogue = {rule.id: rule for rule in rules}
    ids = list(catalogue)
    index = pc.index_in(findings.column("rule").combine_chunks(), pa.array(ids))

    def meta(name: str) -> pa.Array:  # each rule's value once, and each finding's rule: written once a rule
        return pa.DictionaryArray.from_arrays(index, pa.array([getattr(catalogue[i], name) for i in ids], pa.string()))

    reason = findings.column("exception_reason").combine_chunks()
    excepted = pc.fill_null(pc.not_equal(reason, ""), False)
    exception = pa.StructArray.from_arrays(
        [
            reason,
            findings.column("exception_owner").combine_chunks(),
            findings.column("exception_expires").combine_chunks(),
        ],
        ["reason", "owner", "expires"],
        mask=pc.invert(excepted),
    )
    columns = {
        "rule": findings.column("rule"),
        "title": meta("title"),
        "severity": findings.column("severity"),
        "status": findings.column("status"),
        "account_id": findings.column("account_id"),
        "account_name": findings.column("account_name"),
        "user": findings.column("user"),
        "arn": findings.column("arn"),
        "snapshot_date": findings.column("snapshot_date"),
        "first_seen": findings.column("first_seen"),
        "evidence": findings.column("evidence_json"),
        "cis_v1": meta("cis_v1"),
        "cis_v5": meta("cis_v5"),
        "security_hub": meta("security_hub"),
        "remediation": meta("remediation"),
        "exception": exception,
    }
    fields = [
        raw_json_field(name) if name == "evidence" else pa.field(name, column.type) for name, column in columns.items()
    ]
    return pa.Table.from_arrays(
        [pa.chunked_array([c]) if isinstance(c, pa.Array) else c for c in columns.values()], schema=pa.schema(fields)
    )


def records(findings: pa.Table) -> list[dict[str, Any]]:
    """The marked findings as JSON records (Python dicts): what `findings --format json` writes."""
    rows: list[dict[str, Any]] = record_table(findings).to_pylist()
    for row in rows:
        row["snapshot_date"] = row["snapshot_date"].isoformat()
        row["first_seen"] = row["first_seen"].isoformat() if row["first_seen"] else None
        row["evidence"] = json.loads(row["evidence"]) if row["evidence"] else None
        if row["exception"] is not None:
            row["exception"] = {**row["exception"], "expires": row["exception"]["expires"].isoformat()}
    return rows


def write_csv_rows(findings: pa.Table, out: IO[str]) -> None:
    """`findings --format csv`: every finding as a CSV row, spreadsheet formulas neutralised."""
    from credsight.formats.exports import write_csv

    write_csv(findings.select(list(CSV_COLUMNS)), out)


def write_records(findings: pa.Table, out: IO[str]) -> None:
    """`findings --format json`: the records as one JSON array."""
    writer = JsonRecords(out)
    writer.write(record_table(findings))
    writer.close()


# -- OCSF and ASFF: objects built from the record columns, text at the level each value sits --------


def _text(value: str) -> str:
    """A constant text, JSON-encoded: the same for every row."""
    return json.dumps(value)


def _values(array: pa.Array | pa.ChunkedArray, level: int) -> pa.Array:
    return json_values(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array, level)


def _present_values(array: pa.Array, level: int) -> pa.Array:
    """The JSON text of each value, null (the key left out) where the value is."""
    return pc.if_else(pc.is_valid(array), _values(array, level), pa.scalar(None, pa.string()))


def _where(mask: pa.Array, text: Callable[[], Text], n: int) -> pa.Array:
    """text() where `mask` holds, null (the key left out) elsewhere; not made at all if it never holds."""
    if not pc.any(mask).as_py():
        return pa.nulls(n, pa.string())
    return pc.if_else(mask, text().array(n), pa.scalar(None, pa.string()))


def _column(records: pa.Table, name: str) -> pa.Array:
    return records.column(name).combine_chunks()


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _first(text: pa.Array, limit: int) -> pa.Array:
    """Each text's first `limit` characters, as text[:limit] (no pass over them when all are shorter)."""
    if (pc.max(pc.binary_length(text)).as_py() or 0) <= limit:  # bytes: never fewer than characters
        return text
    return pc.utf8_slice_codeunits(text, 0, limit)


def _partition(arn: pa.Array) -> pa.Array:
    """(arn or "arn:aws").split(":")[1]."""
    text = pc.if_else(pc.fill_null(pc.equal(arn, ""), True), pa.scalar("arn:aws"), arn)
    return pc.struct_field(pc.extract_regex(text, r"^[^:]*:(?P<partition>[^:]*)"), "partition")


def _millis(days: pa.Array) -> pa.Array:
    """Milliseconds since the epoch of each day's midnight UTC (null stays null)."""
    return pc.multiply(pc.cast(pc.cast(days, pa.timestamp("s")), pa.int64()), 1000)


def _iso_midnight(days: pa.Array) -> pa.Array:
    return _join(_iso_date(days), "T00:00:00Z")


def _ids(records: pa.Table) -> pa.Array:
    """finding_id() of each record (its key joined by Arrow: hashlib is left as the only work per row)."""
    parts = [pc.fill_null(records.column(name), "None") for name in ("rule", "account_id", "user")]
    keys = pc.binary_join_element_wise(*parts, "/").cast(pa.binary()).to_pylist()
    sha256 = hashlib.sha256
    return pa.array([sha256(key).hexdigest()[:32] for key in keys], pa.string())


def _by_rule(records: pa.Table, value: Mapping[str, str | None]) -> pa.Array:
    """A per-rule value (text or null) for each record."""
    ids = list(value)
    return pa.array([value[i] for i in ids], pa.string()).take(pc.index_in(records.column("rule"), pa.array(ids)))


def _per_rule(records: pa.Table, field: str, encode: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """encode(the rule's `field`) for each record: encoded once per rule, then taken (a rule's metadata is
    the same in each of its findings)."""
    ids = [rule.id for rule in RULES]
    encoded = encode(pa.array([getattr(rule, field) for rule in RULES], pa.string()))
    return encoded.take(pc.index_in(records.column("rule"), pa.array(ids)))


def _one_item_list(item: Member, level: int) -> Text:
    """[item] as json writes a one-item list at `level` (the item's text at level + 1)."""
    return Text("[\n" + " " * (level + 1), item, "\n" + " " * level + "]")


def ocsf_objects(records: pa.Table) -> Text:
    """Each record as an OCSF Detection Finding (class_uid 2004, activity Create), JSON text at level 1, not
    yet joined."""
    severity = _column(records, "severity")
    excepted = pc.equal(_column(records, "status"), "excepted")
    user, account = _column(records, "user"), _column(records, "account_id")
    day, first = _column(records, "snapshot_date"), _column(records, "first_seen")
    title = _column(records, "title")
    names = pa.array(list(OCSF_SEVERITY), pa.string())
    severity_id = pa.array([str(v) for v in OCSF_SEVERITY.values()], pa.string()).take(pc.index_in(severity, names))
    capitalised = pa.array([json.dumps(s.capitalize()) for s in OCSF_SEVERITY], pa.string()).take(
        pc.index_in(severity, names)
    )
    message = _join(title.dictionary_decode(), ": not so for ", pc.fill_null(user, "None"), " in account ", account)
    product = object_text(
        ["name", "vendor_name", "version"], [_text("credsight"), _text("credsight"), _text(product_version())], 3
    )
    metadata = object_text(["version", "product"], [_text(OCSF_VERSION), product], 2)
    finding_info = object_text(
        ["uid", "title", "desc", "first_seen_time", "last_seen_time", "types"],
        [
            _values(_ids(records), 3),
            _values(title, 3),
            _values(_by_rule(records, {r.id: r.rationale for r in RULES}), 3),
            _values(_millis(first), 3),
            _values(_millis(day), 3),
            _one_item_list(_text("IAM credential report"), 3),
        ],
        2,
    )
    resource_type = pc.if_else(pc.equal(user, ROOT_USER), pa.scalar("AWS::::Account"), pa.scalar("AWS::IAM::User"))
    resource = object_text(
        ["uid", "name", "type", "cloud_partition", "region"],
        [
            _values(_column(records, "arn"), 4),
            _values(user, 4),
            _values(resource_type, 4),
            _values(_partition(_column(records, "arn")), 4),
            _text("global"),
        ],
        3,
    )
    account_name = _column(records, "account_name")
    shown_name = pc.if_else(pc.fill_null(pc.equal(account_name, ""), True), account, account_name)
    cloud_account = object_text(
        ["uid", "name", "type_id", "type"],
        [_values(account, 4), _values(shown_name, 4), str(OCSF_AWS_ACCOUNT), _text("AWS Account")],
        3,
    )
    cloud = object_text(["provider", "account"], [_text("AWS"), cloud_account], 2)
    unmapped = object_text(
        ["rule", "evidence", "cis_v1", "cis_v5", "security_hub", "exception"],
        [
            _values(_column(records, "rule"), 3),
            json_values(_column(records, "evidence"), 3, raw=True),
            _values(_column(records, "cis_v1"), 3),
            _values(_column(records, "cis_v5"), 3),
            _values(_column(records, "security_hub"), 3),
            _values(_column(records, "exception"), 3),
        ],
        2,
    )
    members: dict[str, Member] = {
        "activity_id": "1",
        "activity_name": _text("Create"),
        "category_uid": "2",
        "category_name": _text("Findings"),
        "class_uid": "2004",
        "class_name": _text("Detection Finding"),
        "type_uid": "200401",
        "type_name": _text("Detection Finding: Create"),
        "severity_id": severity_id,
        "severity": capitalised,
        "status_id": pc.if_else(excepted, pa.scalar("3"), pa.scalar("1")),
        "status": pc.if_else(excepted, pa.scalar('"Suppressed"'), pa.scalar('"New"')),
        "time": _values(_millis(day), 2),
        "message": _values(message, 2),
        "metadata": metadata,
        "finding_info": finding_info,
        "resources": _one_item_list(resource, 2),
        "cloud": cloud,
        "remediation": _per_rule(records, "remediation", lambda text: json_object(["desc"], [_values(text, 3)], 2)),
        "unmapped": unmapped,
    }
    return object_text(list(members), list(members.values()), 1)


def asff_objects(records: pa.Table, region: str) -> Text:
    """Each record as an AWS Security Finding (what Security Hub's BatchImportFindings takes), at level 1, not
    yet joined."""
    n = records.num_rows
    account, user, arn = _column(records, "account_id"), _column(records, "user"), _column(records, "arn")
    day, first = _column(records, "snapshot_date"), _column(records, "first_seen")
    partition = _partition(arn)
    first_or_day = pc.coalesce(first, day)
    first_at, day_at = _values(_iso_midnight(first_or_day), 2), _values(_iso_midnight(day), 2)
    severity = _column(records, "severity")
    requirements = {
        rule.id: "\n".join(
            json.dumps(prefix + number) for prefix, number in ((CIS_V1, rule.cis_v1), (CIS_V5, rule.cis_v5)) if number
        )
        or None
        for rule in RULES
    }
    listed = _by_rule(records, requirements)
    related = _join("[\n    ", pc.replace_substring(listed, "\n", ",\n    "), "\n   ]")
    evidence = pc.fill_null(compact_json(_column(records, "evidence")), "null")
    exception = _column(records, "exception")
    excepted = pc.is_valid(exception)

    def note() -> Text:
        expires, reason = _iso_date(exception.field("expires")), exception.field("reason")
        return object_text(
            ["Text", "UpdatedBy", "UpdatedAt"],
            [
                _values(_first(_join("accepted risk until ", expires, ": ", reason), 512), 3),
                _values(_first(exception.field("owner"), 512), 3),
                _values(_iso_midnight(day), 3),
            ],
            2,
        )

    members: dict[str, Member] = {
        "SchemaVersion": _text(ASFF_SCHEMA_VERSION),
        "Id": _values(_join("credsight/", _ids(records)), 2),
        "ProductArn": _values(
            _join("arn:", partition, f":securityhub:{region}:", account, ":product/", account, "/default"), 2
        ),
        "GeneratorId": _values(_join("credsight/", _column(records, "rule")), 2),
        "AwsAccountId": _values(account, 2),
        "Types": _one_item_list(_text(ASFF_TYPE), 2),
        "FirstObservedAt": first_at,
        "LastObservedAt": day_at,
        "CreatedAt": first_at,
        "UpdatedAt": day_at,
        "Severity": object_text(["Label", "Original"], [_values(pc.utf8_upper(severity), 3), _values(severity, 3)], 2),
        "Title": _per_rule(records, "title", lambda title: _values(_first(title, 256), 2)),
        "Description": _values(
            _first(_join(_by_rule(records, {r.id: r.rationale for r in RULES}), " User: ", user, "."), 1024), 2
        ),
        "Remediation": object_text(
            ["Recommendation"],
            [
                _per_rule(
                    records,
                    "remediation",
                    lambda text: json_object(["Text"], [_values(_first(text, 512), 4)], 3),
                )
            ],
            2,
        ),
        "ProductFields": object_text(
            ["credsight/rule", "credsight/evidence", "credsight/security_hub_control"],
            [
                _values(_column(records, "rule"), 3),
                _values(_first(evidence, 4096), 3),
                _present_values(_by_rule(records, {r.id: r.security_hub for r in RULES}), 3),
            ],
            2,
        ),
        "Resources": _one_item_list(
            object_text(
                ["Type", "Id", "Partition", "Region"],
                [
                    _values(pc.if_else(pc.equal(user, ROOT_USER), pa.scalar("AwsAccount"), pa.scalar("AwsIamUser")), 4),
                    _values(arn, 4),
                    _values(partition, 4),
                    _text(region),
                ],
                3,
            ),
            2,
        ),
        "Compliance": object_text(
            ["Status", "RelatedRequirements"],
            [_text("FAILED"), pc.if_else(pc.is_valid(listed), related, pa.scalar(None, pa.string()))],
            2,
        ),
        "Workflow": object_text(["Status"], [pc.if_else(excepted, pa.scalar('"SUPPRESSED"'), pa.scalar('"NEW"'))], 2),
        "RecordState": _text("ACTIVE"),
        "Note": _where(excepted, note, n),
    }
    return object_text(list(members), list(members.values()), 1)


def _iso_date(days: pa.Array) -> pa.Array:
    """YYYY-MM-DD (Arrow's cast of a date: many times cheaper than strftime)."""
    return pc.cast(pc.cast(days, pa.date32()), pa.string())


def write_ocsf(findings: pa.Table, out: IO[str]) -> None:
    """`findings --format ocsf`: one JSON array of OCSF Detection Findings."""
    write_objects(record_table(findings), ocsf_objects, out)


def write_asff(findings: pa.Table, out: IO[str], region: str) -> None:
    """`findings --format asff`: one JSON array of AWS Security Findings (BatchImportFindings)."""
    write_objects(record_table(findings), lambda records: asff_objects(records, region), out)


def write_objects(records: pa.Table, objects: Callable[[pa.Table], Text], out: IO[str]) -> None:
    """objects() of the records (written at level 1) as one JSON array, made and written a slice at a time."""
    if records.num_rows:
        write_rows(out, records, objects, ",\n ", lead="[\n ")
        out.write("\n]\n")
    else:
        out.write("[]\n")
