"""Shared fixtures: report builders, a store in a temporary folder, moto's S3 server on loopback."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from credsight.report.model import CURRENT_HEADER, OLD_HEADER
from credsight.store import Store

ACCOUNT = "012345678901"
DAY = dt.date(2026, 11, 1)

ROOT_ROW = {
    "user": "<root_account>",
    "arn": f"arn:aws:iam::{ACCOUNT}:root",
    "user_creation_time": "2019-03-04T05:06:07+00:00",
    "password_enabled": "not_supported",
    "password_last_used": "2026-10-30T10:00:00+00:00",
    "password_last_changed": "not_supported",
    "password_next_rotation": "not_supported",
    "mfa_active": "true",
    "access_key_1_active": "false",
    "access_key_1_last_rotated": "N/A",
    "access_key_1_last_used_date": "N/A",
    "access_key_1_last_used_region": "N/A",
    "access_key_1_last_used_service": "N/A",
    "access_key_2_active": "false",
    "access_key_2_last_rotated": "N/A",
    "access_key_2_last_used_date": "N/A",
    "access_key_2_last_used_region": "N/A",
    "access_key_2_last_used_service": "N/A",
    "cert_1_active": "false",
    "cert_1_last_rotated": "N/A",
    "cert_2_active": "false",
    "cert_2_last_rotated": "N/A",
}


def user_row(name: str, account: str = ACCOUNT, **values: str) -> dict[str, str]:
    """A console user with MFA and one key used in us-east-1; override any column."""
    row = {
        **ROOT_ROW,
        "user": name,
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "password_enabled": "true",
        "password_last_used": "2026-10-31T09:00:00+00:00",
        "password_last_changed": "2025-01-02T03:04:05+00:00",
        "password_next_rotation": "N/A",
        "access_key_1_active": "true",
        "access_key_1_last_rotated": "2025-06-01T00:00:00+00:00",
        "access_key_1_last_used_date": "2026-10-31T12:00:00+00:00",
        "access_key_1_last_used_region": "us-east-1",
        "access_key_1_last_used_service": "s3",
    }
    row.update(values)
    return row


def report(
    *rows: dict[str, str], old: bool = False, account: str = ACCOUNT, eol: str = "\n", final: bool = False
) -> bytes:
    """The bytes of a credential report: header, the root row of `account`, then `rows`."""
    header = OLD_HEADER if old else CURRENT_HEADER
    root = {**ROOT_ROW, "arn": f"arn:aws:iam::{account}:root"}
    lines = [",".join(header)] + [",".join(r[c] for c in header) for r in (root, *rows)]
    return (eol.join(lines) + (eol if final else "")).encode()


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def moto_server_process() -> Iterator[str]:
    """moto's server in a process of its own: its own state (servers in one process share theirs)."""
    from bench.moto_org import moto_process

    os.environ.update(AWS_TEST_ENVIRONMENT)
    with moto_process() as (endpoint, _pid):
        yield endpoint


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (a real, independent implementation of the AWS APIs).

    One per session, in-process; a test that needs a second organization starts moto_server_process.
    """
    from moto.server import ThreadedMotoServer

    os.environ.update(AWS_TEST_ENVIRONMENT)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    """A fresh, empty bucket for one test."""
    name = f"credsight-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name
