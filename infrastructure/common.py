"""Small building blocks every stack uses: the environment parameter, outputs, log groups, checkov notes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from awacs.aws import Action, Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import (
    AWSObject,
    GetAtt,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    awslambda,
    ec2,
    iam,
    logs,
    secretsmanager,
)

from infrastructure.names import DEFAULT_ENVIRONMENT, ENVIRONMENT_PARAMETER, ENVIRONMENT_PATTERN, Export

LOG_RETENTION_DAYS = 90
# Why a security group may send HTTPS anywhere (cfn_nag W5): the AWS APIs (Secrets Manager, CloudWatch, ECS, SSM)
# and the public image registries have no fixed addresses; only 443 leaves, and only through the NAT gateways.
OPEN_HTTPS_EGRESS = (
    "443 only, through the NAT gateways: the AWS APIs and the public image registries have no fixed addresses "
    "(interface endpoints for each would cost about 7 USD a month per zone each)"
)


def new_template(description: str) -> Template:
    template = Template(Description=description)
    template.set_version("2010-09-09")
    template.add_parameter(
        Parameter(
            ENVIRONMENT_PARAMETER,
            Type="String",
            Default=DEFAULT_ENVIRONMENT,
            AllowedPattern=ENVIRONMENT_PATTERN,
            Description="Prefix of every stack, export and resource name (lower-case letters and digits)",
        )
    )
    return template


def env() -> Ref:
    return Ref(ENVIRONMENT_PARAMETER)


def tags(name: str) -> Tags:
    return Tags(Name=Sub(f"${{{ENVIRONMENT_PARAMETER}}}-{name}"), Environment=env())


# The kinds of parameter the stacks declare: each declaration then says only what is its own (name, default,
# bounds or choices, description). Properties left as None are left out of the template.
def _add_parameter(template: Template, name: str, kind: str, **properties: Any) -> Parameter:
    given = {key: value for key, value in properties.items() if value is not None}
    parameter: Parameter = template.add_parameter(Parameter(name, Type=kind, **given))
    return parameter


def add_number_parameter(
    template: Template,
    name: str,
    default: int,
    least: int,
    most: int | None = None,
    description: str | None = None,
    constraint: str | None = None,
) -> Parameter:
    """A Number from `least` to `most` (None: no upper bound); `constraint`: what CloudFormation says when it is
    not."""
    return _add_parameter(
        template,
        name,
        "Number",
        Default=default,
        MinValue=least,
        MaxValue=most,
        ConstraintDescription=constraint,
        Description=description,
    )


def add_choice_parameter(
    template: Template, name: str, default: str, choices: Iterable[str], description: str
) -> Parameter:
    """A String that must be one of `choices` (in the order the console lists them)."""
    return _add_parameter(
        template, name, "String", Default=default, AllowedValues=list(choices), Description=description
    )


def add_flag_parameter(template: Template, name: str, description: str) -> Parameter:
    """A String, "false" (the default) or "true"."""
    return add_choice_parameter(template, name, "false", ("false", "true"), description)


def add_string_parameter(
    template: Template,
    name: str,
    description: str | None = None,
    default: str | None = None,
    pattern: str | None = None,
    constraint: str | None = None,
) -> Parameter:
    """A String, matching `pattern` where given (`constraint`: what CloudFormation says when it does not)."""
    return _add_parameter(
        template,
        name,
        "String",
        Default=default,
        AllowedPattern=pattern,
        ConstraintDescription=constraint,
        Description=description,
    )


def add_output(template: Template, export: Export, value: Any, description: str) -> None:
    template.add_output(Output(export.output, Description=description, Value=value, Export=export.exported()))


def checkov_skip(resource: AWSObject, **reasons: str) -> AWSObject:
    """Suppress checkov checks that do not apply, each with its one-line reason (id -> comment)."""
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    skips = list(metadata.get("checkov", {}).get("skip", []))
    skips += [{"id": check, "comment": comment} for check, comment in reasons.items()]
    metadata["checkov"] = {"skip": skips}
    resource.Metadata = metadata
    return resource


def cfn_nag_skip(resource: AWSObject, **reasons: str) -> AWSObject:
    """Suppress cfn_nag rules that do not apply, each with its reason (cfn_nag's `rules_to_suppress`)."""
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    rules = list(metadata.get("cfn_nag", {}).get("rules_to_suppress", []))
    rules += [{"id": rule, "reason": reason} for rule, reason in reasons.items()]
    metadata["cfn_nag"] = {"rules_to_suppress": rules}
    resource.Metadata = metadata
    return resource


def guard_skip(resource: AWSObject, **reasons: str) -> AWSObject:
    """Suppress rules of the AWS Guard Rules Registry (cfn-guard reads `SuppressedRules`), each with its reason."""
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    guard = dict(metadata.get("guard", {}))
    guard["SuppressedRules"] = [*guard.get("SuppressedRules", []), *reasons]
    guard["Reasons"] = {**guard.get("Reasons", {}), **reasons}
    metadata["guard"] = guard
    resource.Metadata = metadata
    return resource


# Why no secret has a rotation schedule (Guard's SECRETSMANAGER_ROTATION_ENABLED_CHECK): each is rotated by the
# step docs/deploying.md ("Secrets and their rotation") gives, for the reason its table says.
MANUAL_ROTATION = (
    "rotated by hand, as the table in docs/deploying.md (Secrets and their rotation) says and why"
)

# Why no bucket has S3 Object Lock (Guard's S3_BUCKET_DEFAULT_LOCK_ENABLED): what they hold expires by a lifecycle
# rule or is replaced by the next deploy; a lock would keep it past that, and keep `destroy` from emptying them.
NO_OBJECT_LOCK = (
    "its objects expire by a lifecycle rule or are replaced by a deploy: a lock would defeat both"
)
NO_ACL = "no ACL at all: public access is blocked and ownership controls set; the rule fails a missing AccessControl"

# Why Guard's LAMBDA_CONCURRENCY_CHECK is told so: the rule compares a number and cannot read a Ref.
CONCURRENCY_PARAMETER = (
    "reserved concurrency is set, by the ReservedConcurrency parameter: the rule cannot read a Ref"
)

INLINE_POLICY = (
    "the role's policy is its own, not shared: it lives and is reviewed with the role, in the same template"
)


def add_user_secrets(
    template: Template,
    users: Mapping[str, str],
    name: Callable[[str], str],
    description: str,
    kms_key_arn: Any,
    keys: tuple[str, str],
    password_rules: dict[str, Any],
    **properties: Any,
) -> dict[str, secretsmanager.Secret]:
    """A secret a user (`users`: role -> username), `<Role>Secret` named `Sub(name(role))` and described by
    `description` with {role} and {username}: JSON of the username and a password Secrets Manager makes by
    `password_rules` (`keys`: the username's key and the password's). Rotated by hand (MANUAL_ROTATION)."""
    username_key, password_key = keys
    found = {}
    for role, username in users.items():
        secret = template.add_resource(
            secretsmanager.Secret(
                f"{role.capitalize()}Secret",
                Name=Sub(name(role)),
                Description=description.format(role=role, username=username),
                KmsKeyId=kms_key_arn,
                GenerateSecretString=secretsmanager.GenerateSecretString(
                    SecretStringTemplate=json.dumps({username_key: username}),
                    GenerateStringKey=password_key,
                    **password_rules,
                ),
                **properties,
            )
        )
        guard_skip(secret, SECRETSMANAGER_ROTATION_ENABLED_CHECK=MANUAL_ROTATION)
        found[role] = secret
    return found


def create_log_group(template: Template, logical_id: str, name: Sub, kms_key_arn: Any) -> logs.LogGroup:
    """A log group that expires and is encrypted with the environment's key."""
    return template.add_resource(
        logs.LogGroup(logical_id, LogGroupName=name, RetentionInDays=LOG_RETENTION_DAYS, KmsKeyId=kms_key_arn)
    )


def tcp_rule(port: int, description: str, **peer: Any) -> ec2.SecurityGroupRule:
    """One TCP port to or from one peer: CidrIp, SourceSecurityGroupId or SourcePrefixListId."""
    return ec2.SecurityGroupRule(
        IpProtocol="tcp", FromPort=port, ToPort=port, Description=description, **peer
    )


def allow(service: str, actions: Iterable[str], resources: list[Any]) -> Statement:
    """One Allow statement: these actions of one service on these resources."""
    return Statement(Effect=Allow, Action=[Action(service, a) for a in actions], Resource=resources)


def write_logs(log_group: Any) -> Statement:
    """What a function or task needs to write its own log group."""
    return allow("logs", ("CreateLogStream", "PutLogEvents"), [GetAtt(log_group, "Arn")])


def tcp_ingress(
    logical_id: str, group: Any, port: Any, description: str, **properties: Any
) -> ec2.SecurityGroupIngress:
    """One TCP port into `group` (its id) from one peer (CidrIp or SourceSecurityGroupId), as a resource of its own:
    a rule on a condition, or on a group another template owns."""
    return ec2.SecurityGroupIngress(
        logical_id,
        GroupId=group,
        IpProtocol="tcp",
        FromPort=port,
        ToPort=port,
        Description=description,
        **properties,
    )


def assume_role(service: str, source_arn: Sub | None = None) -> PolicyDocument:
    """The trust policy that lets one AWS service assume a role; with `source_arn` (the resources of this
    account the service acts for, as the service sets aws:SourceArn), only on their behalf: the confused-deputy
    conditions (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""
    conditions: dict[str, Any] = {}
    if source_arn is not None:
        conditions["Condition"] = Condition(
            [StringEquals("aws:SourceAccount", Ref("AWS::AccountId")), ArnLike("aws:SourceArn", source_arn)]
        )
    statement = Statement(
        Effect=Allow, Principal=Principal("Service", service), Action=[AssumeRole], **conditions
    )
    return PolicyDocument(Version="2012-10-17", Statement=[statement])


# Network interfaces of a VPC function: EC2 offers no resource-level permission for these actions.
VPC_FUNCTION_ENI_ACTIONS = (
    "CreateNetworkInterface",
    "DescribeNetworkInterfaces",
    "DeleteNetworkInterface",
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
)


def role_with_policy(
    logical_id: str, trust: PolicyDocument, policy_name: str, statements: list[Statement], **properties: Any
) -> iam.Role:
    """A role with one inline policy of its own, with Guard told why it is inline (INLINE_POLICY)."""
    role = iam.Role(
        logical_id,
        AssumeRolePolicyDocument=trust,
        Policies=[
            iam.Policy(
                PolicyName=policy_name,
                PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
            )
        ],
        **properties,
    )
    guard_skip(role, IAM_NO_INLINE_POLICY_CHECK=INLINE_POLICY)
    return role


def role_policy(
    logical_id: str, role: iam.Role, policy_name: str, statements: list[Statement], **properties: Any
) -> iam.PolicyType:
    """A policy of its own on `role` (one a condition adds, or one the role's creator cannot know)."""
    return iam.PolicyType(
        logical_id,
        PolicyName=policy_name,
        Roles=[Ref(role)],
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements),
        **properties,
    )


def vpc_function_role(policy_name: str, statements: list[Statement]) -> iam.Role:
    """The `FunctionRole` of a function in the VPC: its own `statements` and the network-interface actions,
    with the reasons why those alone are on '*'."""
    eni = Statement(Effect=Allow, Action=[Action("ec2", a) for a in VPC_FUNCTION_ENI_ACTIONS], Resource=["*"])
    role = checkov_skip(
        role_with_policy(
            "FunctionRole", assume_role("lambda.amazonaws.com"), policy_name, [*statements, eni]
        ),
        CKV_AWS_111="only the network-interface actions of a VPC function are on '*': EC2 has no resource-level "
        "permission for them; every other statement names its resource",
    )
    cfn_nag_skip(
        role, W11="see the checkov note: EC2's network-interface actions have no resource-level permission"
    )
    assert isinstance(role, iam.Role)
    return role


ARCHITECTURE = "arm64"  # of every function: the zip's wheels are fetched for it (infrastructure/artifacts.py)
SETUP_RUNTIME = "python3.12"  # the set-up steps' functions (lambda/store_setup/, lambda/sql_setup/)
CODE_BUCKET_PARAMETER = "CodeBucket"  # where a stack with a set-up step finds the functions' zip
CODE_KEY_PARAMETER = "CodeKey"
NO_DEAD_LETTERS = (
    "CloudFormation invokes it for the custom resource and waits for its answer: a failure fails the stack "
    "operation, which is where it must show, not in a dead-letter queue"
)


def add_code_parameters(template: Template, of: str = "functions'", bucket_min_length: int = 1) -> None:
    """CodeBucket and CodeKey: where the deploy tool put the zip of the stack's function (`of`: "function's") or
    functions."""
    for name, what, min_length in (
        (CODE_BUCKET_PARAMETER, "Bucket", bucket_min_length),
        (CODE_KEY_PARAMETER, "Key", 1),
    ):
        description = f"{what} of the {of} zip (the deploy tool fills it in)"
        template.add_parameter(Parameter(name, Type="String", MinLength=min_length, Description=description))


def function_code() -> awslambda.Code:
    """The functions' zip, where the deploy tool put it (it fills in the CodeBucket and CodeKey parameters)."""
    return awslambda.Code(S3Bucket=Ref(CODE_BUCKET_PARAMETER), S3Key=Ref(CODE_KEY_PARAMETER))


def zip_function(
    logical_id: str, runtime: str, handler: str, role: iam.Role, kms_key_arn: Any, **properties: Any
) -> awslambda.Function:
    """A function of the functions' zip (function_code) on ARCHITECTURE, acting with `role`, its environment
    encrypted with `kms_key_arn`."""
    return awslambda.Function(
        logical_id,
        Runtime=runtime,
        Handler=handler,
        Architectures=[ARCHITECTURE],
        Code=function_code(),
        Role=GetAtt(role, "Arn"),
        KmsKeyArn=kms_key_arn,
        **properties,
    )


def setup_function(
    logical_id: str,
    name: Sub,
    description: str,
    handler: str,
    role: iam.Role,
    group: ec2.SecurityGroup,
    log_group: logs.LogGroup,
    kms_key_arn: Any,
    subnets: list[Any],
) -> awslambda.Function:
    """The function behind a set-up step's custom resource: in the VPC's private subnets, one run at a time, from
    the functions' zip; its failures go to CloudFormation, not to dead letters."""
    function = zip_function(
        logical_id,
        SETUP_RUNTIME,
        handler,
        role,
        kms_key_arn,
        FunctionName=name,
        Description=description,
        MemorySize=256,
        Timeout=300,
        ReservedConcurrentExecutions=1,  # one set-up at a time
        VpcConfig=awslambda.VPCConfig(SubnetIds=subnets, SecurityGroupIds=[Ref(group)]),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
    )
    checkov_skip(function, CKV_AWS_116=NO_DEAD_LETTERS)
    guard_skip(function, LAMBDA_DLQ_CHECK=NO_DEAD_LETTERS)
    assert isinstance(function, awslambda.Function)
    return function
