"""Who is told: an SNS topic with an optional e-mail subscription (a parameter), and CloudWatch alarms on it.

Every alarm has a runbook line in docs/operations.md ("When an alarm fires"), found by its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awacs.aws import Action as AwacsAction
from awacs.aws import Allow, PolicyDocument, Statement
from troposphere import Equals, Not, Parameter, Ref, Sub, Template, cloudwatch, iam, sns


def runbook_name(stack: str, logical_id: str) -> str:
    """How docs/operations.md names an alarm: CloudFormation names it `<env>-<stack>-<logical id>-<suffix>` (no
    name of our own, so a change that replaces it never collides: Guard's CFN_NO_EXPLICIT_RESOURCE_NAMES), and the
    runbook line is `<stack>-<logical id without Alarm>`, which that name contains."""
    return f"{stack}-{logical_id.removesuffix('Alarm')}"


def create_topic(
    template: Template, logical: str, name_suffix: str, email_parameter: str, description: str, kms_key: Any
) -> sns.Topic:
    """`<env>-<name_suffix>`, encrypted with `kms_key`; `email_parameter` (empty: no subscription) is subscribed."""
    template.add_parameter(
        Parameter(email_parameter, Type="String", Default="", Description=f"{description} (empty: none)")
    )
    condition = f"Has{email_parameter}"
    template.add_condition(condition, Not(Equals(Ref(email_parameter), "")))
    topic = template.add_resource(
        sns.Topic(logical, TopicName=Sub(f"${{EnvironmentName}}-{name_suffix}"), KmsMasterKeyId=kms_key)
    )
    template.add_resource(
        sns.SubscriptionResource(
            f"{logical}EmailSubscription",
            Condition=condition,
            TopicArn=Ref(topic),
            Protocol="email",
            Endpoint=Ref(email_parameter),
        )
    )
    return topic


def allow_publish(template: Template, role_logical: str, topic: sns.Topic, policy_name: str) -> None:
    """One more inline policy on a role of the template: sns:Publish on `topic`, nothing else."""
    role = template.resources[role_logical]
    role.Policies = [
        *role.Policies,
        iam.Policy(
            PolicyName=policy_name,
            PolicyDocument=PolicyDocument(
                Version="2012-10-17",
                Statement=[
                    Statement(Effect=Allow, Action=[AwacsAction("sns", "Publish")], Resource=[Ref(topic)])
                ],
            ),
        ),
    ]


def add_alarm(
    template: Template,
    logical: str,
    description: str,
    metric: tuple[str, str, Mapping[str, Any]],  # namespace, metric name, dimensions
    statistic: str,
    comparison: str,
    threshold: Any,
    topic: Any,
    period: int = 60,
    evaluation_periods: int = 1,
    missing_data: str = "notBreaching",
    condition: str | None = None,
) -> cloudwatch.Alarm:
    """One alarm on one metric, notifying `topic` when it fires and when it is back to OK."""
    namespace, metric_name, dimensions = metric
    alarm = cloudwatch.Alarm(
        logical,
        AlarmDescription=description,
        Namespace=namespace,
        MetricName=metric_name,
        Dimensions=[cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
        Statistic=statistic,
        Period=period,
        EvaluationPeriods=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator=comparison,
        TreatMissingData=missing_data,
        AlarmActions=[topic],
        OKActions=[topic],
    )
    if condition is not None:
        alarm.Condition = condition
    return template.add_resource(alarm)
