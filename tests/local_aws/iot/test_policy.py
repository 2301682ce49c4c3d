"""IoT Core's policy evaluation as played locally: resources, wildcards, variables, conditions, deny wins."""

from __future__ import annotations

from typing import Any

from local_aws.iot.access import Access, Principal
from local_aws.iot.policy import Connection, client_arn, is_allowed, resource_matches, topic_arn
from tests.support.device_policy import policy_document

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}"


def _thing(name: str = "pressure-0000", client_id: str | None = None) -> Connection:
    client = client_id or name
    return Connection(client_id=client, thing_name=client if client == name else None, certificate_id="c1")


def test_topic_arns_keep_the_leading_slash() -> None:
    assert topic_arn(REGION, ACCOUNT, "/pressure/data") == f"{ARN}:topic//pressure/data"
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")
    assert is_allowed([policy], "iot:Publish", topic_arn(REGION, ACCOUNT, "/pressure/data"), _thing())
    # What the policy said before: 'topic/pressure/data' is the topic 'pressure/data', not '/pressure/data'.
    old = {
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/pressure/data"}]
    }
    assert not is_allowed([old], "iot:Publish", topic_arn(REGION, ACCOUNT, "/pressure/data"), _thing())


def test_the_device_policy_pins_the_client_id_to_the_attached_thing() -> None:
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")
    assert is_allowed([policy], "iot:Connect", client_arn(REGION, ACCOUNT, "pressure-0000"), _thing())
    # Another client id on the same certificate: no thing of that name is attached, so no variable, no match.
    other = _thing(client_id="pressure-0001")
    assert not is_allowed([policy], "iot:Connect", client_arn(REGION, ACCOUNT, "pressure-0001"), other)
    assert not is_allowed([policy], "iot:Publish", topic_arn(REGION, ACCOUNT, "/shelf/data"), _thing())
    assert not is_allowed([policy], "iot:Subscribe", f"{ARN}:topicfilter//pressure/data", _thing())


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
    assert is_allowed(policies, "iot:Publish", f"{ARN}:topic/open", _thing())
    assert not is_allowed(policies, "iot:Publish", f"{ARN}:topic/secret/x", _thing())


def test_access_refuses_unknown_inactive_and_misnamed_certificates() -> None:
    policy = policy_document(REGION, ACCOUNT, "/pressure/data")

    def principal(status: str) -> Principal:
        return Principal(
            certificate_id="c1", certificate_arn=f"{ARN}:cert/c1", status=status,
            things=["pressure-0000"], policies=[policy],
        )  # fmt: skip

    access = Access(region=REGION, account=ACCOUNT, principals={"fp": principal("ACTIVE")})
    connection, why = access.connect("fp", "pressure-0000", "pressure-0000")
    assert connection is not None and why == ""
    assert access.may_publish(connection, "/pressure/data") and not access.may_publish(
        connection, "/shelf/data"
    )
    assert access.connect("other", "pressure-0000", None)[1].startswith("the certificate is not registered")
    assert "iot:Connect" in access.connect("fp", "pressure-0001", None)[1]
    revoked = Access(region=REGION, account=ACCOUNT, principals={"fp": principal("REVOKED")})
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
        assert is_allowed([policy], "iot:Publish", topic_arn(REGION, ACCOUNT, topic), _thing())
    for topic in (
        "/shelf/data",
        "$aws/rules/demo_ingest_shelf/shelf/data",
        "$aws/rules/demo_ingest_pressurex",
        "$aws/rules/staging_ingest_pressure/pressure/data",  # another environment's rule
    ):
        assert not is_allowed([policy], "iot:Publish", topic_arn(REGION, ACCOUNT, topic), _thing())
    assert policy_document(REGION, ACCOUNT, "/pressure/data")["Statement"][1]["Resource"] == [
        f"{ARN}:topic//pressure/data"
    ]
