"""What each destination has been told: its watermark, kept in the store.

    <store>/notifications/destination=<digest of the URL>/watermark-<run_id>.json

A watermark says, per account, the latest snapshot whose events and findings the destination has been
told about (or, when none reached its minimum severity, considered). Each round writes a new file and the
newest is in force: append-only, whole or nothing (store/files.py). A watermark is written only after the
destination accepted the digest, so a failed delivery is computed and sent again by the next round, and a
delivered one is never sent twice. If the store cannot be written after the destination accepted, the
next round sends it again: a digest may be told twice, never lost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from credsight.errors import StoreError
from credsight.store import Store

VERSION = 1


@dataclass(frozen=True)
class Watermark:
    """Per account, the latest snapshot told; accounts absent have never been told anything."""

    through: Mapping[str, dt.date] = field(default_factory=dict)
    run_id: str | None = None

    def start(self, account: str, first: dt.date) -> dt.date:
        """The first day of this account's events still to tell: the day after its watermark, or `first`."""
        told = self.through.get(account)
        return told + dt.timedelta(days=1) if told else first


def read(store: Store, destination: str) -> Watermark | None:
    """The destination's newest watermark, or None when it was never told anything."""
    content = store.read_watermark(destination)
    if content is None:
        return None
    try:
        data = json.loads(content)
        through = {str(account): dt.date.fromisoformat(day) for account, day in data["through"].items()}
        return Watermark(through, data.get("run_id"))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise StoreError(
            f"the watermark of notification destination {destination} is malformed ({e}); it is written by "
            f"credsight notify only: remove the file under notifications/destination={destination}/ to start anew"
        ) from None


def write(
    store: Store,
    destination: str,
    run_id: str,
    through: Mapping[str, dt.date],
    *,
    events: int,
    findings: int,
    sent: bool,
    now: dt.datetime | None = None,
) -> str:
    """Record what the destination was told in this round (`sent`: a digest was delivered; else none was due)."""
    record = {
        "version": VERSION,
        "destination": destination,
        "run_id": run_id,
        "written_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "sent": sent,
        "events": events,
        "findings": findings,
        "through": {account: day.isoformat() for account, day in sorted(through.items())},
    }
    return store.write_watermark(destination, run_id, json.dumps(record, indent=1).encode())
