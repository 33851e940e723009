"""The deployed collector's Finish step tells people: it publishes the digest to the stack's SNS topic and to
the apprise URLs of its secret, with the same watermarks in the S3 store, against moto's server on 127.0.0.1
(S3, SNS delivering to an SQS queue subscribed to the topic, Secrets Manager) and a real HTTP receiver."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from credsight.deploy.lambda_handler import NotifySettings, apprise_urls, handler
from credsight.errors import UserFixable
from credsight.notify.routes import destination_key
from credsight.store import Store
from tests.event_stores import write_store
from tests.notify_receivers import http_receiver
from tests.test_notify import ACCOUNTS, D1, D2, D3, D4, DASHBOARD, reports

RUN = "20261103T060000000000Z-aaaaaa"


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A store on S3 holding the story's first three days, a topic with a queue subscribed, a secret."""
    bucket = f"credsight-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    store = Store(f"s3://{bucket}/credsight", endpoint_url=moto_endpoint)
    write_store(Path("unused"), {day: reports(day) for day in (D1, D2, D3)}, ACCOUNTS, store=store)
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name=f"credsight-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"digests-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("CREDSIGHT_STORE", store.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("CREDSIGHT_NOTIFY_TOPIC", topic)
    monkeypatch.setenv("CREDSIGHT_DASHBOARD_URL", DASHBOARD)
    yield {"store": store, "topic": topic, "queue": queue, "sqs": sqs, "sns": sns, "endpoint": moto_endpoint}


def published(aws: dict[str, Any]) -> list[dict[str, Any]]:
    """The SNS notifications the subscribed queue received (SNS's envelope: Subject, Message)."""
    found = []
    while True:
        answer = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=message["ReceiptHandle"])


def finish(run_id: str = RUN) -> dict[str, Any]:
    """The Finish step of a run whose plan (written by its List step) holds no account of its own."""
    plan = {"caller": "123456789012", "partition": "aws", "batch_size": 400, "with_metadata": False, "accounts": []}
    Store(os.environ["CREDSIGHT_STORE"], endpoint_url=os.environ["AWS_ENDPOINT_URL"]).write_plan(
        run_id, json.dumps(plan).encode()
    )
    return handler({"step": "finish", "run_id": run_id}, None)


def test_the_finish_step_publishes_the_digest_to_the_topic_once(aws: dict[str, Any]) -> None:
    result = finish()
    assert result["notifications"] == {"sent": 1, "failed": 0, "nothing_new": 0}
    [notification] = published(aws)
    assert notification["TopicArn"] == aws["topic"]
    assert notification["Subject"].startswith("credsight: 1 critical, 1 high events; ")
    message = notification["Message"]
    assert "CRITICAL root_signed_in" in message and "HIGH mfa_removed" in message  # the plain-text digest
    assert f"open: {DASHBOARD}/changes?accounts=" in message
    assert "<b>" not in message and "@channel" not in message  # the hostile account, inert
    store = aws["store"]
    [mark] = watermarks_of(aws, f"sns-topic:{aws['topic']}")
    assert aws["topic"] not in mark and mark.endswith(".json")

    again = finish("20261103T070000000000Z-bbbbbb")
    assert again["notifications"] == {"sent": 0, "failed": 0, "nothing_new": 1}
    assert published(aws) == []  # never sent twice

    write_store(Path("unused"), {D4: reports(D4)}, store=store)
    later = finish("20261104T060000000000Z-cccccc")
    assert later["notifications"]["sent"] == 1
    [fourth] = published(aws)
    assert "user bob" in fourth["Message"] and "root_signed_in" not in fourth["Message"]


def watermarks_of(aws: dict[str, Any], destination: str) -> list[str]:
    bucket, prefix = aws["store"].root.split("/", 1)
    s3 = boto3.client("s3", endpoint_url=aws["endpoint"])
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/notifications/destination={destination_key(destination)}/"
    )
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_topic_that_refuses_keeps_its_watermark_and_the_apprise_urls_of_the_secret_are_told(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as receiver:
        secrets = boto3.client("secretsmanager", endpoint_url=aws["endpoint"])
        name = f"credsight/apprise-{uuid.uuid4().hex[:8]}"
        secrets.create_secret(Name=name, SecretString=json.dumps([receiver.json_url("team")]))
        monkeypatch.setenv("CREDSIGHT_NOTIFY_SECRET", name)
        aws["sns"].delete_topic(TopicArn=aws["topic"])  # publishing fails: the topic is gone
        result = finish()
        assert result["notifications"] == {"sent": 1, "failed": 1, "nothing_new": 0}
        assert watermarks_of(aws, f"sns-topic:{aws['topic']}") == []
        assert len(watermarks_of(aws, receiver.json_url("team"))) == 1
        [digest] = receiver.messages("team")
        assert "`root_signed_in`" in digest["message"]
        s3 = boto3.client("s3", endpoint_url=aws["endpoint"])
        bucket = aws["store"].root.split("/", 1)[0]
        for key in watermarks_of(aws, receiver.json_url("team")):  # the store keeps a digest of the URL only
            assert f"127.0.0.1:{receiver.port}".encode() not in s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_no_topic_and_no_secret_publishes_nothing(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDSIGHT_NOTIFY_TOPIC")
    result = finish()
    assert "notifications" not in result and published(aws) == []


def test_the_settings_it_reads() -> None:
    settings = NotifySettings.from_environment(
        {
            "CREDSIGHT_NOTIFY_TOPIC": "arn:t",
            "CREDSIGHT_ALLOWED_REGIONS": "us-east-1, eu-west-1",
            "CREDSIGHT_NOTIFY_SECRET": "",
        }
    )
    assert (settings.topic, settings.secret, settings.min_severity) == ("arn:t", None, "high")
    assert settings.allowed_regions == ("us-east-1", "eu-west-1")
    with pytest.raises(UserFixable, match="CREDSIGHT_NOTIFY_MIN_SEVERITY='loud'"):
        NotifySettings.from_environment({"CREDSIGHT_NOTIFY_MIN_SEVERITY": "loud"})
    assert apprise_urls('["json://a/b", " "]') == ["json://a/b"]
    assert apprise_urls("# team\nslack://x/y/z\n\nmailto://u:p@h\n") == ["slack://x/y/z", "mailto://u:p@h"]
    with pytest.raises(UserFixable, match="JSON list"):
        apprise_urls('["unterminated')
