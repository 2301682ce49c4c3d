"""Roles a service assumes, and the key a service uses, serve only this account's own resources: the
confused-deputy conditions AWS documents for each, asserted on the synthesized templates."""

from __future__ import annotations

from typing import Any

ACCOUNT = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def trust(template: dict[str, Any], role: str) -> dict[str, Any]:
    (statement,) = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return statement  # type: ignore[no-any-return]


def test_the_rules_role_serves_only_this_environments_rules(templates: dict[str, Any]) -> None:
    # https://docs.aws.amazon.com/iot/latest/developerguide/iot-create-role.html
    statement = trust(templates["ingest"], "RuleRole")
    assert statement["Principal"] == {"Service": "iot.amazonaws.com"}
    assert statement["Condition"] == {
        **ACCOUNT,
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:rule/${EnvironmentName}_ingest_*"
            }
        },
    }
    # Every rule of the stack falls under that pattern.
    rules = [r for r in templates["ingest"]["Resources"].values() if r["Type"] == "AWS::IoT::TopicRule"]
    assert rules
    for rule in rules:
        assert rule["Properties"]["RuleName"]["Fn::Sub"].startswith("${EnvironmentName}_ingest_")


def test_the_flow_log_role_serves_only_this_accounts_flow_logs(templates: dict[str, Any]) -> None:
    # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
    statement = trust(templates["network"], "FlowLogRole")
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        **ACCOUNT,
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*"
            }
        },
    }


def test_cloudwatch_logs_uses_the_data_key_only_for_this_accounts_log_groups(
    templates: dict[str, Any],
) -> None:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    policy = templates["network"]["Resources"]["DataKey"]["Properties"]["KeyPolicy"]
    (statement,) = [s for s in policy["Statement"] if s.get("Sid") == "CloudWatchLogsEncrypt"]
    assert statement["Condition"] == {
        **ACCOUNT,
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": {
                "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
            }
        },
    }
    # Every log group the key encrypts is one of this account's in this region: the pattern admits them all.
    for name, template in templates.items():
        for group in (r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"):
            assert "KmsKeyId" in group["Properties"], name


def test_the_grafana_task_reads_its_dashboards_only_from_a_bucket_of_this_account(
    templates: dict[str, Any],
) -> None:
    # The artifacts bucket's name is predictable; the deploy tool checks its owner at deploy time
    # (test_artifacts_owner.py), the task's role at every start.
    role = templates["grafana"]["Resources"]["GrafanaTaskRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    reads = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
    assert {a for s in reads for a in s["Action"]} == {"s3:GetObject", "s3:ListBucket"}
    for statement in reads:
        assert statement["Condition"]["StringEquals"] == {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}
