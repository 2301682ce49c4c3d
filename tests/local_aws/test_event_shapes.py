"""The envelopes the local AWS and the benches build have the shape of AWS's own (tests/events/, from AWS's
documentation): a field the function reads that is missing or typed differently here fails here, not on AWS."""

from __future__ import annotations

import json

from benchmarks.bench_webhook import Deliveries
from benchmarks.handler_cases import Readings, sqs_event
from local_aws.apigateway.http_api import http_api_event
from local_aws.iot.mqtt_session import BrokerMessage
from local_aws.iot.rules_engine import Rule, RulesEngine
from local_aws.iot.sql import parse_rule
from local_aws.lambda_.events import failure_record, kinesis_batch_event, sqs_batch_event
from local_aws.lambda_.function import LocalFunction
from local_aws.lambda_.workers import FunctionSpec
from tests.support.event_shapes import fixture, shape_differences

ARN = "arn:aws:lambda:us-east-1:123456789012:function:demo-ingest"
NO_SENDER = frozenset({"Records[].attributes.SenderId"})  # the sender's IAM identity: there is none locally
# The account, API id and domain of a deployed API: a local gateway has none of them.
NO_API = frozenset({"requestContext.accountId", "requestContext.apiId", "requestContext.domainName"})


def test_the_event_source_mappings_batch_has_sqs_shape() -> None:
    ours = sqs_batch_event([json.dumps({"pressure": 1})])
    assert shape_differences(ours, fixture("sqs_batch.json"), NO_SENDER) == []


def test_the_stream_mappings_batch_has_kinesis_shape() -> None:
    """tests/events/kinesis_batch.json: "Example Kinesis record event", AWS Lambda developer guide, "Using Lambda
    with Kinesis Data Streams" (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html)."""
    ours = kinesis_batch_event([json.dumps({"pressure": 1}), b"\xff not text"])
    assert shape_differences(ours, fixture("kinesis_batch.json")) == []


def test_the_benchs_batch_is_the_same_envelope() -> None:
    ours = sqs_event(Readings(), 3)
    assert shape_differences(ours, fixture("sqs_batch.json"), NO_SENDER) == []


def test_the_on_failure_record_has_lambdas_shape() -> None:
    theirs = fixture("lambda_destination_record.json")
    event = json.dumps(theirs["requestPayload"])  # the event as the function got it
    ours = json.loads(failure_record(ARN, event, ("IngestFailed", "down"), 3, 256 * 1024))
    assert shape_differences(ours, theirs) == []


def test_the_error_action_message_has_iots_shape() -> None:
    spec = FunctionSpec("demo-ingest", ARN, "x.handler", 128, 10)
    rule = Rule(
        "r", parse_rule("SELECT * FROM 'd'", "r"), LocalFunction("Fn", spec, 2, None, 1), None, "errors"
    )
    ours = json.loads(
        RulesEngine.error_body(rule, BrokerMessage("d", b"{}", lambda: None, "dev1"), "refused")
    )
    assert shape_differences(ours, fixture("rule_error_action.json")) == []


def test_the_gateways_request_and_the_benchs_have_http_apis_shape() -> None:
    theirs = fixture("webhook_api_gateway_event.json")
    headers = {
        "authorization": "Bearer s",
        "content-type": "application/json",
        "host": "h",
        "user-agent": "u",
    }
    ours = http_api_event("PUT /notifications", "PUT", "/notifications", headers, b"{}")
    assert shape_differences(ours, theirs, NO_API) == []
    bench = Deliveries().event(2)
    assert (
        shape_differences(
            bench, theirs, NO_API | {"headers.content-type", "headers.host", "headers.user-agent"}
        )
        == []
    )


def test_the_check_finds_a_difference() -> None:
    theirs = {"Records": [{"body": "x", "attributes": {"A": "1"}}]}
    assert shape_differences({"Records": [{"body": "x"}]}, theirs) == ["Records[].attributes: missing"]
    assert shape_differences({"Records": [{"body": 1, "attributes": {"A": "1"}}]}, theirs) == [
        "Records[].body: str in AWS's, int here"
    ]
    assert shape_differences({"Records": [{"body": "x", "attributes": {"A": "1"}, "b": 1}]}, theirs) == [
        "Records[].b: not in AWS's event"
    ]
