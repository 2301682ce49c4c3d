"""Conditions, NotAction/NotResource and the Last Will and retain checks, from AWS's documented IoT policy examples.

The examples are those of the AWS IoT developer guide: "Connect policy examples", "Connect and publish policy
examples" and "Retained message policy examples" (account 123456789012, us-east-1). What the local endpoint
cannot evaluate as IoT Core does is refused when the policy is loaded, never skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from local_aws.iot.access import Will
from local_aws.iot.policy import LAST_WILL, Connection, PolicyError, check_policy, is_allowed
from tests.support.device_policy import policy_document
from tests.support.iot_access import ACCOUNT, ARN, REGION, as_client, connects, publishes, registry

V = "2012-10-17"


def test_the_documented_connect_policy_denies_named_clients_and_admits_attached_things() -> None:
    """'Connect policy examples': Deny client1 and client2; Allow a client id that is an attached thing."""
    policy = {
        "Version": V,
        "Statement": [
            {"Effect": "Deny", "Action": ["iot:Connect"], "Resource": [f"{ARN}:client/client1", f"{ARN}:client/client2"]},
            {
                "Effect": "Allow", "Action": ["iot:Connect"],
                "Resource": [f"{ARN}:client/${{iot:Connection.Thing.ThingName}}"],
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
        ],
    }  # fmt: skip
    check_policy(policy)
    assert connects([policy], as_client("thing1"))
    assert not connects([policy], as_client("client1"))
    unattached = as_client("thing1", attached=False)
    assert not connects([policy], unattached)


def test_the_documented_retained_will_policy_needs_last_will_in_the_connect_attributes() -> None:
    """'Retained message policy examples': connect with a will only under ForAllValues:StringEquals
    iot:ConnectAttributes [LastWill]; publish and retain-publish only to the topic 'will'."""
    policy = {
        "Version": V,
        "Statement": [
            {
                "Effect": "Allow", "Action": ["iot:Connect"], "Resource": [f"{ARN}:client/device1"],
                "Condition": {"ForAllValues:StringEquals": {"iot:ConnectAttributes": ["LastWill"]}},
            },
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:RetainPublish"], "Resource": [f"{ARN}:topic/will"]},
        ],
    }  # fmt: skip
    access = registry(policy, thing="device1")
    assert access.connect("fp", "device1", None, will=Will("will", retain=True))[0] is not None
    assert access.connect("fp", "device1", None)[0] is not None  # no attribute at all: every one is LastWill
    refused, why = access.connect("fp", "device1", None, persistent=True)  # PersistentConnect is not allowed
    assert refused is None and "iot:Connect" in why
    refused, why = access.connect("fp", "device1", None, will=Will("elsewhere", retain=False))
    assert refused is None and "Last Will goes to 'elsewhere'" in why
    connection = Connection("device1", "device1", "c1", connect_attributes=(LAST_WILL,))
    assert connects([policy], connection)


def test_a_device_s_will_to_another_kind_s_topic_is_refused_at_connect() -> None:
    access = registry(policy_document(REGION, ACCOUNT, "/pressure/data"))
    assert (
        access.connect("fp", "pressure-0000", None, will=Will("/pressure/data", retain=False))[0] is not None
    )
    refused, why = access.connect("fp", "pressure-0000", None, will=Will("/shelf/data", retain=False))
    assert (
        refused is None
        and why == "its Last Will goes to '/shelf/data', where no policy allows it iot:Publish"
    )
    # A retained will needs iot:RetainPublish, which the device policy does not grant.
    refused, why = access.connect("fp", "pressure-0000", None, will=Will("/pressure/data", retain=True))
    assert refused is None and "iot:RetainPublish" in why


def test_a_retained_publish_needs_retain_publish() -> None:
    """'Retained message policy examples': iot:Publish and iot:RetainPublish on the topic."""
    device = policy_document(REGION, ACCOUNT, "/pressure/data")
    connection, _ = registry(device).connect("fp", "pressure-0000", None)
    assert connection is not None
    assert registry(device).may_publish(connection, "/pressure/data")
    assert not registry(device).may_publish(connection, "/pressure/data", retain=True)
    retaining = {
        "Version": V,
        "Statement": [{"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": f"{ARN}:topic//pressure/data"}],
    }  # fmt: skip
    assert registry(device, retaining).may_publish(connection, "/pressure/data", retain=True)
    assert not registry(retaining).may_publish(connection, "/pressure/data", retain=True)  # and iot:Publish


def test_a_deny_with_string_not_equals_is_enforced() -> None:
    """Publish is denied to every client but the one named: the condition that was once skipped (failing open)."""
    allow = {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/*"}
    deny = {
        "Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/admin/*",
        "Condition": {"StringNotEquals": {"iot:ClientId": ["operator-1", "operator-2"]}},
    }  # fmt: skip
    policies = [{"Version": V, "Statement": [allow, deny]}]
    check_policy(policies[0])
    assert not publishes(policies, "admin/reset", as_client("pressure-0000"))
    assert publishes(policies, "admin/reset", as_client("operator-2"))
    assert publishes(policies, "other", as_client("pressure-0000"))


def test_a_variable_in_a_condition_value_is_the_connection_s() -> None:
    deny = {
        "Effect": "Deny", "Action": "iot:Publish", "Resource": "*",
        "Condition": {"StringNotLike": {"iot:ClientId": "${iot:Connection.Thing.ThingName}"}},
    }  # fmt: skip
    allow = {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}
    policies = [{"Version": V, "Statement": [allow, deny]}]
    check_policy(policies[0])
    assert publishes(policies, "t", as_client("pressure-0000"))
    # No thing attached: the variable has no value; a Deny that cannot be decided applies (fails closed).
    unattached = as_client("pressure-0000", attached=False)
    assert not publishes(policies, "t", unattached)


def test_not_action_and_not_resource() -> None:
    statements = [
        {"Effect": "Allow", "NotAction": "iot:Subscribe", "Resource": "*"},
        {"Effect": "Deny", "Action": "iot:Publish", "NotResource": f"{ARN}:topic/allowed/*"},
    ]
    policies = [{"Version": V, "Statement": statements}]
    check_policy(policies[0])
    thing = as_client()
    assert publishes(policies, "allowed/x", thing)
    assert not publishes(policies, "other", thing)
    assert not is_allowed(policies, "iot:Subscribe", f"{ARN}:topicfilter/allowed/x", thing)
    assert connects(policies, thing)


def test_other_operators_source_ip_and_absent_keys() -> None:
    def allowed(condition: dict[str, Any], connection: Connection) -> bool:
        policy = {
            "Version": V,
            "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": condition}
            ],
        }
        check_policy(policy)
        return connects([policy], connection)

    local = as_client(source_ip="127.0.0.1")
    assert allowed({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, local)
    assert not allowed({"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}, local)
    assert allowed({"StringLike": {"iot:ClientId": "pressure-*"}}, local)
    assert not allowed({"StringNotLike": {"iot:ClientId": "pressure-*"}}, local)
    assert allowed({"StringEqualsIgnoreCase": {"iot:clientid": "PRESSURE-0000"}}, local)  # keys: any case
    assert allowed({"ArnLike": {"iot:ClientId": "arn:*:iot:*:*:*"}}, as_client("arn:aws:iot:r:1:client/x"))
    assert not allowed({"ArnEquals": {"iot:ClientId": "arn:aws:iot:*:*:*"}}, as_client("not-an-arn"))
    # An absent key: a positive operator fails, a negated one holds, IfExists holds, Null says so.
    assert not allowed({"StringEquals": {"iot:Certificate.Subject.CommonName": "x"}}, local)
    assert allowed({"StringNotEquals": {"iot:Certificate.Subject.CommonName": "x"}}, local)
    assert allowed({"StringEqualsIfExists": {"iot:Certificate.Subject.CommonName": "x"}}, local)
    assert allowed({"Null": {"iot:Certificate.Subject.CommonName": "true"}}, local)
    assert allowed(
        {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": "LastWill"}},
        as_client(connect_attributes=("LastWill",)),
    )
    assert not allowed(
        {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": "LastWill"}}, as_client(connect_attributes=())
    )


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ({"Condition": {"NumericLessThan": {"iot:ClientId": "3"}}}, "condition operator 'NumericLessThan'"),
        (
            {"Condition": {"StringEquals": {"iot:Connection.Thing.ThingTypeName": "x"}}},
            "condition key 'iot:Connection.Thing.ThingTypeName'",
        ),
        (
            {"Condition": {"StringEquals": {"iot:ConnectAttributes": "LastWill"}}},
            "ForAllValues: or ForAnyValue:",
        ),
        ({"Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "yes"}}}, "'true' or 'false'"),
        (
            {"Resource": f"{ARN}:topic/${{iot:Connection.Thing.Attributes[kind]}}"},
            "policy variable '${iot:Connection.Thing.Attributes[kind]}'",
        ),
        ({"NotAction": "iot:Subscribe"}, "exactly one of Action and NotAction"),
        ({"Principal": "*"}, "element Principal"),
    ],
)
def test_what_cannot_be_evaluated_is_refused_at_load_naming_it(statement: dict[str, Any], named: str) -> None:
    policy = {
        "Version": V,
        "Statement": [{"Effect": "Deny", "Action": "iot:Publish", "Resource": "*", **statement}],
    }
    with pytest.raises(
        PolicyError,
        match="statement 0: .*" + named.replace("[", r"\[").replace("$", r"\$").replace("{", r"\{"),
    ):
        check_policy(policy)
    with pytest.raises(ValidationError, match="statement 0"):
        registry(policy)


def test_a_variable_needs_the_2012_version() -> None:
    old = {
        "Version": "2008-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/${{iot:ClientId}}"}
        ],
    }
    with pytest.raises(PolicyError, match="only in a document of Version 2012-10-17"):
        check_policy(old)
