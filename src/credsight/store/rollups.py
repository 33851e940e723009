"""What is computed as the store is written: each user's class and the per-report daily counts.

The dashboard's questions over a year of 1,000 accounts are answered from these small tables
instead of from 36 million report rows. They are computed with Arrow alone (the collector in
Lambda carries no SQL engine), from the same rows the store writes, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from credsight.report.model import ROOT_USER
from credsight.store.schemas import COUNTS, DAILY_SCHEMA, KEY_USE_SCHEMA


def user_class(rows: pa.Table) -> pa.Array:
    """root for the root row; human with a console password; machine with an active key only; else dormant."""
    is_root = pc.equal(rows.column("user"), ROOT_USER)
    password = pc.fill_null(rows.column("password_enabled"), False)
    key = pc.or_(
        pc.fill_null(rows.column("access_key_1_active"), False),
        pc.fill_null(rows.column("access_key_2_active"), False),
    )
    return pc.if_else(
        is_root,
        "root",
        pc.if_else(password, "human", pc.if_else(key, "machine", "dormant")),
    )


def _count(mask: pa.Array) -> pa.Array:
    return pc.cast(pc.fill_null(mask, False), pa.int64())


def daily_counts(rows: pa.Table, reports: pa.Table) -> pa.Table:
    """One row per report in `reports` (its own columns plus the counts the overview charts use).

    A report with no rows gets zero counts: it was collected, and it is not missing.
    """
    keys = ["snapshot_date", "account_id", "run_id"]
    klass = rows.column("user_class")
    is_root = pc.equal(klass, "root")
    key1 = pc.fill_null(rows.column("access_key_1_active"), False)
    key2 = pc.fill_null(rows.column("access_key_2_active"), False)
    active_keys = pc.add(pc.cast(key1, pa.int64()), pc.cast(key2, pa.int64()))
    work = pa.table(
        {
            **{k: rows.column(k) for k in keys},
            "users": _count(pc.invert(is_root)),
            "humans": _count(pc.equal(klass, "human")),
            "machines": _count(pc.equal(klass, "machine")),
            "dormant": _count(pc.equal(klass, "dormant")),
            "console_without_mfa": _count(
                pc.and_(pc.equal(klass, "human"), pc.invert(pc.fill_null(rows.column("mfa_active"), False)))
            ),
            "active_keys": pc.if_else(is_root, 0, active_keys),
            "root_mfa": pc.if_else(is_root, rows.column("mfa_active"), pa.scalar(None, pa.bool_())),
            "root_active_keys": pc.if_else(is_root, active_keys, pa.scalar(None, pa.int64())),
        }
    )
    grouped = work.group_by(keys, use_threads=False).aggregate(
        [*[(c, "sum") for c in COUNTS], ("root_mfa", "max"), ("root_active_keys", "max")]
    )
    counts = grouped.rename_columns(
        [n.rsplit("_", 1)[0] if n.endswith(("_sum", "_max")) else n for n in grouped.column_names]
    )
    joined = reports.join(counts, keys=keys, join_type="left outer")
    for name in COUNTS:
        joined = joined.set_column(joined.schema.get_field_index(name), name, pc.fill_null(joined.column(name), 0))
    return joined.select(DAILY_SCHEMA.names).cast(DAILY_SCHEMA)


def key_use_counts(rows: pa.Table) -> pa.Table:
    """Active keys per report by last-used region and service, and how many were used since the day before."""
    keys = ["snapshot_date", "account_id", "run_id", "region", "service"]
    parts = []
    for n in (1, 2):
        key = f"access_key_{n}"
        names = [*keys[:3], f"{key}_last_used_date", f"{key}_last_used_region", f"{key}_last_used_region_marker"]
        names += [f"{key}_last_used_service", f"{key}_last_used_service_marker"]
        active = rows.select(names).filter(pc.fill_null(rows.column(f"{key}_active"), False))
        midnight = pc.assume_timezone(pc.cast(active.column("snapshot_date"), pa.timestamp("s")), "UTC")
        since = pc.subtract(midnight, pa.scalar(dt.timedelta(days=1), pa.duration("s")))
        parts.append(
            pa.table(
                {
                    **{k: active.column(k) for k in keys[:3]},
                    "region": pc.coalesce(active.column(names[4]), active.column(names[5])),
                    "service": pc.coalesce(active.column(names[6]), active.column(names[7])),
                    "keys": pa.repeat(pa.scalar(1, pa.int64()), active.num_rows),
                    "keys_used_recently": _count(pc.greater_equal(active.column(names[3]), since)),
                }
            )
        )
    grouped = pa.concat_tables(parts).group_by(keys, use_threads=False)
    counted = grouped.aggregate([("keys", "sum"), ("keys_used_recently", "sum")])
    counted = counted.rename_columns([n.removesuffix("_sum") for n in counted.column_names])
    return counted.select(KEY_USE_SCHEMA.names).cast(KEY_USE_SCHEMA)
