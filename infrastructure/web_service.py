"""A service behind the load balancer at a sub-path (Grafana, Chronograf): its group, target group, listener
rule (path and origin-verify header) and the one-task ECS service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from awacs.aws import Statement
from troposphere import GetAtt, Parameter, Ref, Template, ec2
from troposphere import elasticloadbalancingv2 as elb

from infrastructure import service_files
from infrastructure.common import new_template, tags, tcp_rule
from infrastructure.ecs_service import (
    FetchedFiles,
    ServiceWiring,
    create_parameters,
    create_service,
    create_task_definition,
)
from infrastructure.notifications import add_alarm
from infrastructure.stacks import edge, influxdb, network


def create_security_group(template: Template, service: str, port: int) -> ec2.SecurityGroup:
    return template.add_resource(
        network.https_out_group(
            "ServiceSecurityGroup",
            f"{service}: {port} only from the load balancer",
            service,
            "AWS APIs and the image registry over HTTPS",
            SecurityGroupIngress=[
                tcp_rule(
                    port,
                    "from the load balancer",
                    SourceSecurityGroupId=edge.LOAD_BALANCER_SECURITY_GROUP.imported(),
                )
            ],
        )
    )


def create_routing(
    template: Template, service: str, port: int, health_path: str, path: str
) -> elb.TargetGroup:
    target_group = template.add_resource(
        elb.TargetGroup(
            "TargetGroup",
            Port=port,
            Protocol="HTTP",
            TargetType="ip",
            VpcId=network.VPC_ID.imported(),
            HealthCheckPath=health_path,
            HealthCheckIntervalSeconds=30,
            Matcher=elb.Matcher(HttpCode="200"),
            TargetGroupAttributes=[
                elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value="10")
            ],
            Tags=tags(service),
        )
    )
    template.add_resource(
        elb.ListenerRule(
            "ListenerRule",
            ListenerArn=edge.LISTENER_ARN.imported(),
            Priority=Ref("ListenerPriority"),
            Conditions=[
                elb.Condition(Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=[path])),
                elb.Condition(
                    Field="http-header",
                    HttpHeaderConfig=elb.HttpHeaderConfig(
                        HttpHeaderName=edge.ORIGIN_VERIFY_HEADER,
                        Values=[edge.origin_verify_value(edge.ORIGIN_VERIFY_SECRET_ARN.imported())],
                    ),
                ),
            ],
            Actions=[elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(target_group))],
        )
    )
    add_alarm(
        template,
        "UnhealthyHostsAlarm",
        f"The load balancer finds no healthy {service} task for 3 minutes: its path answers 502/503",
        (
            "AWS/ApplicationELB",
            "HealthyHostCount",
            {
                "TargetGroup": GetAtt(target_group, "TargetGroupFullName"),
                "LoadBalancer": edge.LOAD_BALANCER_FULL_NAME.imported(),
            },
        ),
        "Minimum",
        "LessThanThreshold",
        1,
        edge.ALARM_TOPIC_ARN.imported(),
        evaluation_periods=3,
        missing_data="breaching",
    )
    return target_group


def build_web_service(
    service: str,
    description: str,
    priority: int,
    secret_arns: Mapping[str, Any],
    substitutions: Mapping[str, Any] | None = None,
    task_statements: Sequence[Statement] = (),
    prepare: Any = None,
    fetched: FetchedFiles | None = None,
) -> Template:
    template = new_template(description)
    spec = service_files.load(service)
    create_parameters(template, spec, cpu=256, memory=512)
    template.add_parameter(
        Parameter(
            "ListenerPriority",
            Type="Number",
            Default=priority,
            MinValue=1,
            MaxValue=50000,
            Description="Priority of the path rule on the shared listener",
        )
    )
    if prepare is not None:
        secret_arns = {**secret_arns, **prepare(template)}
    if not spec.path_pattern or not spec.health_check_path:
        raise service_files.ServiceFilesError(
            f"services/{service}/task.yaml needs path_pattern and health_check_path"
        )
    group = create_security_group(template, service, spec.port)
    target_group = create_routing(template, service, spec.port, spec.health_check_path, spec.path_pattern)
    wiring = ServiceWiring(
        secret_arns=secret_arns,
        security_groups=[Ref(group), influxdb.client_security_group(service).imported()],
        target_group=Ref(target_group),
        substitutions=substitutions,
        task_statements=task_statements,
        fetched=fetched,
    )
    definition = create_task_definition(template, spec, wiring)
    create_service(template, spec, definition, wiring, depends_on=["ListenerRule"])
    return template


def reader_secret() -> dict[str, Any]:
    return {influxdb.secret_name("reader"): influxdb.secret_arn("reader").imported()}
