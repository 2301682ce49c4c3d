"""The sandbox's moto patches give SQS's answers (counts, deletes, including bad receipt handles) and IoT Core's
certificate ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_aws import moto_server
from local_aws.iot.access import fingerprint


@pytest.fixture
def sqs() -> Iterator[object]:
    moto_server.patch()  # moto is in process here (mock_aws), exactly the code its server runs
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _visible_and_hidden(client: Any, url: str) -> tuple[str, str]:
    """SQS's approximate counts of the messages that may be received, and of those received and not deleted."""
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


def test_send_receive_delete_and_counts_match_sqs(sqs: object) -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName="q")["QueueUrl"]
    client.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    )
    received = client.receive_message(QueueUrl=url, MaxNumberOfMessages=4, VisibilityTimeout=30)["Messages"]
    assert _visible_and_hidden(client, url) == ("6", "4")
    entries: list[Any] = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    response = client.delete_message_batch(
        QueueUrl=url, Entries=[*entries, {"Id": "bad", "ReceiptHandle": "nope"}]
    )
    assert sorted(s["Id"] for s in response["Successful"]) == ["0", "1", "2", "3"]
    assert [f["Id"] for f in response["Failed"]] == ["bad"]
    again = client.delete_message_batch(
        QueueUrl=url, Entries=entries[:1]
    )  # deleting twice is fine, as on SQS
    assert [s["Id"] for s in again["Successful"]] == ["0"]
    assert _visible_and_hidden(client, url) == ("6", "0")


def test_a_message_received_twice_is_deleted_by_either_handle_and_only_once(sqs: object) -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName="twice")["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="m")
    first = client.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    second = client.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]["ReceiptHandle"]
    assert first != second
    response = client.delete_message_batch(QueueUrl=url, Entries=[{"Id": "old", "ReceiptHandle": first}])
    assert [s["Id"] for s in response["Successful"]] == ["old"]
    again = client.delete_message_batch(QueueUrl=url, Entries=[{"Id": "new", "ReceiptHandle": second}])
    assert [s["Id"] for s in again["Successful"]] == ["new"]  # already deleted: fine, as on SQS
    assert _visible_and_hidden(client, url) == ("0", "0")


def test_a_certificate_id_is_the_sha256_of_its_der_as_iot_core_gives_it() -> None:
    moto_server.patch()
    with mock_aws():
        made = boto3.client("iot", region_name="us-east-1").create_keys_and_certificate(setAsActive=True)
    # The local endpoint's principal() and its policy lookup key a connection by this hash of its certificate.
    assert made["certificateId"] == fingerprint(made["certificatePem"])
