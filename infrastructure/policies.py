"""IAM and KMS policy pieces shared by the stacks (awacs)."""

from __future__ import annotations

from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.aws import Action as AwacsAction
from troposphere import Sub

LOGS_KEY = "LogsKeyArn"  # network stack output: the customer-managed key of every log group


def assume_role(service: str) -> PolicyDocument:
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[Statement(Effect=Allow, Principal=Principal("Service", service), Action=[AwacsAction("sts", "AssumeRole")])],
    )


def logs_key_policy() -> PolicyDocument:
    """The account administers the key; CloudWatch Logs of this account and region may use it, nobody else."""
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(
                Sid="AccountAdministers",
                Effect=Allow,
                Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                Action=[AwacsAction("kms", "*")],
                Resource=["*"],  # in a key policy "*" is this key
            ),
            Statement(
                Sid="LogsUseIt",
                Effect=Allow,
                Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                Action=[AwacsAction("kms", a) for a in ("Encrypt*", "Decrypt*", "ReEncrypt*", "GenerateDataKey*", "Describe*")],
                Resource=["*"],
                Condition=Condition(
                    StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")}),
                ),
            ),
        ],
    )
