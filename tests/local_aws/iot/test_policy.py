"""IoT Core's policy evaluation as played locally: resources, wildcards, variables, conditions, deny wins."""

from __future__ import annotations

from typing import Any

from local_aws.iot.policy import is_allowed, resource_matches, topic_arn
from tests.support.device_policy import policy_document
from tests.support.iot_access import ACCOUNT, ARN, REGION, as_client, connects, publishes, registry


def test_topic_arns_keep_the_leading_slash() -> None:
    assert topic_arn(REGION, ACCOUNT, "/pressure/data") == f"{ARN}:topic//pressure/data"
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")
    assert publishes([policy], "/pressure/data", as_client())
    # What the policy said before: 'topic/pressure/data' is the topic 'pressure/data', not '/pressure/data'.
    old = {
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/pressure/data"}]
    }
    assert not publishes([old], "/pressure/data", as_client())


def test_the_device_policy_pins_the_client_id_to_the_attachedas_client() -> None:
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")
    assert connects([policy], as_client())
    # Another client id on the same certificate: no thing of that name is attached, so no variable, no match.
    other = as_client("pressure-0001", attached=False)
    assert not connects([policy], other)
    assert not publishes([policy], "/shelf/data", as_client())
    assert not is_allowed([policy], "iot:Subscribe", f"{ARN}:topicfilter//pressure/data", as_client())


def test_wildcards_are_iam_wildcards_and_mqtt_wildcards_are_plain_characters() -> None:
    variables: dict[str, str] = {}
    assert resource_matches(f"{ARN}:topic/*", f"{ARN}:topic//a/b/c", variables)
    assert resource_matches(f"{ARN}:topic/a/?", f"{ARN}:topic/a/b", variables)
    assert not resource_matches(f"{ARN}:topic/a/?", f"{ARN}:topic/a/bc", variables)
    assert not resource_matches(f"{ARN}:topic/a/+", f"{ARN}:topic/a/b", variables)
    assert resource_matches(f"{ARN}:topicfilter/a/+", f"{ARN}:topicfilter/a/+", variables)
    assert not resource_matches(f"{ARN}:topic/Pressure", f"{ARN}:topic/pressure", variables)  # case-sensitive
    # A variable's value is literal text: a client id '*' does not turn into a wildcard.
    assert not resource_matches(
        f"{ARN}:client/${{iot:ClientId}}x", f"{ARN}:client/abcx", {"iot:ClientId": "*"}
    )


def test_an_explicit_deny_wins() -> None:
    allow: dict[str, Any] = {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}
    deny: dict[str, Any] = {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/secret/*"}
    policies: list[dict[str, Any]] = [{"Statement": [allow]}, {"Statement": deny}]
    assert is_allowed(policies, "iot:Publish", f"{ARN}:topic/open", as_client())
    assert not is_allowed(policies, "iot:Publish", f"{ARN}:topic/secret/x", as_client())


def test_access_refuses_unknown_inactive_and_misnamed_certificates() -> None:
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")
    access = registry(policy)
    connection, why = access.connect("fp", "pressure-0000", "pressure-0000")
    assert connection is not None and why == ""
    assert access.may_publish(connection, "/pressure/data") and not access.may_publish(
        connection, "/shelf/data"
    )
    assert access.connect("other", "pressure-0000", None)[1].startswith("the certificate is not registered")
    assert "iot:Connect" in access.connect("fp", "pressure-0001", None)[1]
    revoked = registry(policy, status="REVOKED")
    assert revoked.connect("fp", "pressure-0000", None) == (None, "the certificate is REVOKED")
    assert not revoked.still_connects(connection)


def test_with_basic_ingest_on_the_policy_adds_only_its_own_rule_s_topics() -> None:
    policy = policy_document(REGION, ACCOUNT, "/pressure/data", basic_ingest=True)
    (publish,) = [s for s in policy["Statement"] if s["Action"] == "iot:Publish"]
    assert publish["Resource"] == [
        f"{ARN}:topic//pressure/data",
        f"{ARN}:topic/$aws/rules/demo_ingest_pressure",
        f"{ARN}:topic/$aws/rules/demo_ingest_pressure/*",
    ]
    for topic in (
        "/pressure/data",
        "$aws/rules/demo_ingest_pressure",
        "$aws/rules/demo_ingest_pressure/p/data",
    ):
        assert publishes([policy], topic, as_client())
    for topic in (
        "/shelf/data",
        "$aws/rules/demo_ingest_shelf/shelf/data",
        "$aws/rules/demo_ingest_pressurex",
        "$aws/rules/staging_ingest_pressure/pressure/data",  # another environment's rule
    ):
        assert not publishes([policy], topic, as_client())
    assert policy_document(REGION, ACCOUNT, "/pressure/data")["Statement"][1]["Resource"] == [
        f"{ARN}:topic//pressure/data"
    ]
