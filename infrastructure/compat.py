"""What a template needs on a local endpoint (moto), applied only there; AWS always gets the template as
synthesized. Each step answers one limitation of moto's CloudFormation (moto/cloudformation/parsing.py):

- It skips some resource types (CloudFront, Secrets Manager secrets, Cloud Map, IoT rules, alarms, ECS capacity
  providers, ...): a `Fn::GetAtt` on one fails the stack, an output that is a `Ref` to one is dropped with its
  export, and it fails to remove one it has once "updated" (a kind's rule, when the kind is removed). So the
  local template leaves them out and names them by placeholder texts (`local_template`). The managed store (a
  Timestream for InfluxDB instance and the custom resource of its start-up step) is left out the same way.
- It updates a resource whose `Condition` is false as if it were true (`parse_and_update_resource` never looks at
  the condition), and evaluates the export of a conditional output anyway: the ingest stack's direct path failed
  its first redeploy with "Fn::GetAtt references undefined resource IngestQueue" (from the queued path's alarm,
  mapping and policy), and as moto had stored the new template before failing, a second try found "no changes"
  with part of the update never applied. So the local template leaves out what is false with the deploy's
  parameter values, as CloudFormation does (`without_false_conditions`).
- It updates a resource for a changed parameter only when the resource names it with `Ref`, not in an `Fn::Sub`
  text (`get_references_from_template`): a topic changed by parameter left the function's KIND_TOPICS as it was.
  `explicit_parameter_refs` adds the `Ref`s.
- It keeps a resource an update removed among the stack's resources (ResourceMap.update deletes it but leaves it
  in `_parsed_resources`), so a later update that brings the same logical id back finds it "made" and makes
  nothing: a sandbox switched from the queued path to another and back had no ingest queue, and its rule runner
  stopped on QueueDoesNotExist. Nor can such a stack be put right in place (its delete fails on what is lost, and
  leaves exports behind). After a local deploy the deploy tool checks that the stack's queues, buckets and streams
  exist (`lost_resources`) and, when one is lost, says so in one line with what to do: restart the sandbox, which
  deploys every stack afresh.
- It cannot import resources into a stack (no IMPORT change set): `attach_retained` names the retained
  resources a deploy takes back directly instead (infrastructure/reattach.py).
- It answers DescribeKey with an internal error for a key its CloudFormation made (the key policy is kept as an
  object where moto/kms/policy_validator.py parses text): locally a key is taken back without its state checked.
- It cannot delete a route table (no delete for AWS::EC2::RouteTable), so deleting the network stack fails on
  the VPC after dropping the stack but not its exports: the next create failed on "Export names must be unique"
  (`release_route_tables`).
- Its AWS::IoT::Policy (moto/iot/models.py FakePolicy) keeps the PolicyDocument as the object the template gives,
  where IoT's API holds JSON text (GetPolicy then answers an object no client can read); deletes by the
  unresolved PolicyName (ResourceNotFoundException: the stack's delete fails); and updates by adding versions,
  after which its delete refuses the policy. So the local template leaves the policies out (MOTO_SKIPPED_TYPES)
  and the deploy tool puts them through IoT's API as CloudFormation would (`put_iot_policies`,
  `delete_iot_policies`): created, or a new default version with the older ones pruned.
- It has no CloudFormation model for an Aurora cluster (`AWS::RDS::DBCluster`: moto/rds has the API, not the
  model, so neither Serverless v2's scaling nor the Data API's `EnableHttpEndpoint`), nor for a cluster parameter
  group, and its `AWS::RDS::DBInstance` model ignores `DBClusterIdentifier` (it would make a stand-alone instance
  of engine aurora-mysql, which RDS never has): the relational stack's cluster, writer instance and parameter group
  are left out and named by placeholders (the cluster's ARN `cluster.dbclusterarn.local`, which the functions'
  SQL_RESOURCE_ARN then holds); its subnet group, which moto models, is created. Locally the SQL sink is the
  sandbox's MariaDB behind a stand-in of the Data API, not anything moto plays.
- It has no CloudFormation model for QuickSight (VPC connection, data source, data set, dashboard; moto/quicksight
  has part of the API only): left out the same way (the relational stack's `QuickSight=true`).
- It has no CloudFormation model for API Gateway V2 (moto/apigatewayv2 has none): the webhook's API, its route and
  its authorizer are skipped as every unknown type is; the sandbox plays the API from the template itself.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from infrastructure.reattach import Found

_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")

MOTO_SKIPPED_TYPES = frozenset(
    {
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::VpcOrigin",
        "AWS::WAFv2::WebACL",
        "AWS::SecretsManager::Secret",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::ServiceDiscovery::Service",
        "AWS::IoT::TopicRule",
        "AWS::CloudWatch::Alarm",
        "AWS::ECS::CapacityProvider",
        "AWS::ECS::ClusterCapacityProviderAssociations",
        "AWS::Timestream::InfluxDBInstance",
        "AWS::CloudFormation::CustomResource",
        "AWS::IoT::Policy",
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBClusterParameterGroup",
        "AWS::RDS::DBInstance",
        "AWS::QuickSight::VPCConnection",
        "AWS::QuickSight::DataSource",
        "AWS::QuickSight::DataSet",
        "AWS::QuickSight::Dashboard",
    }
)


def is_local(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


class _Unknown(Exception):
    """A condition refers to something other than parameters and literals."""


def evaluate_conditions(template: dict[str, Any], values: Mapping[str, str]) -> dict[str, bool]:
    """Each condition of the template with these parameter values (Fn::Equals, Not, And, Or, Condition on
    parameters and literals); one that needs anything else is left out."""
    definitions: dict[str, Any] = template.get("Conditions", {})

    def value(node: Any) -> str:
        if isinstance(node, str | int | float | bool):
            return str(node)
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        raise _Unknown

    def truth(node: Any, seen: frozenset[str]) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((function, args),) = node.items()
            if function == "Condition":
                return named(args, seen)
            if function == "Fn::Equals":
                return value(args[0]) == value(args[1])
            if function == "Fn::Not":
                return not truth(args[0], seen)
            if function == "Fn::And":
                return all(truth(arg, seen) for arg in args)
            if function == "Fn::Or":
                return any(truth(arg, seen) for arg in args)
        raise _Unknown

    def named(name: str, seen: frozenset[str]) -> bool:
        if name in seen or name not in definitions:
            raise _Unknown
        return truth(definitions[name], seen | {name})

    results = {}
    for name in definitions:
        try:
            results[name] = named(name, frozenset())
        except _Unknown:
            continue
    return results


def without_false_conditions(template: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The template without the resources and outputs whose condition is false with these parameter values
    (moto would update such a resource as if it were true, and evaluates such an output's export anyway;
    CloudFormation deploys neither)."""
    conditions = evaluate_conditions(template, values)

    def kept(section: str) -> dict[str, Any]:
        return {
            name: item
            for name, item in template.get(section, {}).items()
            if conditions.get(item.get("Condition", ""), True)
        }

    result = {**template, "Resources": kept("Resources")}
    if "Outputs" in template:
        result["Outputs"] = kept("Outputs")
    return result


def explicit_parameter_refs(template: dict[str, Any]) -> dict[str, Any]:
    """Every `${Parameter}` of an `Fn::Sub` text also given as `{"Ref": Parameter}` in the Sub's own map: moto
    updates a resource for a changed parameter only when it finds a `Ref` to it (`get_references_from_template`
    in moto/cloudformation/parsing.py), so a topic changed by parameter left the function's KIND_TOPICS as it was."""
    parameters = set(template.get("Parameters", {}))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::Sub"}:
                value = node["Fn::Sub"]
                text, given = (value, {}) if isinstance(value, str) else (value[0], walk(value[1]))
                named = {name for name in _SUB_NAME.findall(text) if name in parameters and name not in given}
                if not named:
                    return {"Fn::Sub": value if isinstance(value, str) else [text, given]}
                return {"Fn::Sub": [text, {**given, **{name: {"Ref": name} for name in sorted(named)}}]}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return {key: walk(value) if key in ("Resources", "Outputs") else value for key, value in template.items()}


def _decided(node: Any, conditions: Mapping[str, bool]) -> Any:
    """`node` with every `Fn::If` on a known condition replaced by its branch (AWS::NoValue items dropped)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] in conditions:
            name, yes, no = node["Fn::If"]
            return _decided(yes if conditions[name] else no, conditions)
        return {key: _decided(value, conditions) for key, value in node.items()}
    if isinstance(node, list):
        items = [_decided(item, conditions) for item in node]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    return node


_LITERAL = re.compile(r"\$\{!([^}]+)\}")


def _rendered(node: Any, values: Mapping[str, str]) -> Any:
    """`node` with `Fn::Sub` texts and `Ref`s of parameters and pseudo parameters filled in from `values`."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
            text = _SUB_NAME.sub(lambda m: values[m.group(1)], node["Fn::Sub"])
            return _LITERAL.sub(lambda m: "${" + m.group(1) + "}", text)
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {key: _rendered(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_rendered(item, values) for item in node]
    return node


def iot_policies(template: dict[str, Any], values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The template's AWS::IoT::Policy resources as CloudFormation would make them with these values (parameters
    and pseudo parameters): name -> document."""
    conditions = evaluate_conditions(template, values)
    found = {}
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::IoT::Policy" or not conditions.get(
            resource.get("Condition", ""), True
        ):
            continue
        properties = resource["Properties"]
        name = str(_rendered(properties["PolicyName"], values))
        found[name] = _rendered(_decided(properties["PolicyDocument"], conditions), values)
    return found


def put_iot_policies(iot: Any, template: dict[str, Any], values: Mapping[str, str]) -> list[str]:
    """Each of the template's IoT policies, created or (another document) given a new default version, the older
    ones pruned as CloudFormation does (IoT keeps five); the names."""
    wanted = iot_policies(template, values)
    for name, document in wanted.items():
        text = json.dumps(document)
        try:
            current = iot.get_policy(policyName=name)
        except iot.exceptions.ResourceNotFoundException:
            iot.create_policy(policyName=name, policyDocument=text)
            continue
        if json.loads(current["policyDocument"]) == document:
            continue
        iot.create_policy_version(policyName=name, policyDocument=text, setAsDefault=True)
        for version in iot.list_policy_versions(policyName=name)["policyVersions"]:
            if not version["isDefaultVersion"]:
                iot.delete_policy_version(policyName=name, policyVersionId=version["versionId"])
    return sorted(wanted)


def delete_iot_policies(iot: Any, names: list[str]) -> list[str]:
    """Delete these policies (their other versions first); what could not be, with why (one still attached to a
    certificate: IoT refuses, as it makes CloudFormation's delete fail)."""
    kept = []
    for name in names:
        try:
            for version in iot.list_policy_versions(policyName=name)["policyVersions"]:
                if not version["isDefaultVersion"]:
                    iot.delete_policy_version(policyName=name, policyVersionId=version["versionId"])
            iot.delete_policy(policyName=name)
        except iot.exceptions.ResourceNotFoundException:
            continue
        except iot.exceptions.DeleteConflictException as error:
            kept.append(f"{name}: {error}")
    return kept


def local_template(template: dict[str, Any], values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template without the resources of types moto skips, every `Ref`, `Fn::GetAtt` and `${...}` on one
    replaced by a placeholder text: `<logical id>.<attribute>.local` and `<logical id>.local` (lower case).
    moto only stores such a resource as nothing, and fails to remove one it has once "updated" (a kind's rule,
    when the kind is removed). With parameter `values`, also without the resources whose condition is false."""
    if values is not None:
        template = without_false_conditions(template, values)
    template = explicit_parameter_refs(template)
    skipped = {
        name
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") in MOTO_SKIPPED_TYPES
    }
    return replace_resources(
        template,
        skipped,
        lambda name: f"{name.lower()}.local",
        lambda name, attribute: f"{name.lower()}.{attribute.lower()}.local",
    )


def attach_retained(template: dict[str, Any], found: list[Found]) -> dict[str, Any]:
    """moto cannot import a resource into a stack (it takes no IMPORT change set): on a local endpoint, a
    retained resource that exists is left out of the template, and every `Ref`, `Fn::GetAtt` and `${...}` of
    `Fn::Sub` on it names it directly, so the stack uses it as an imported one and its name blocks nothing."""
    by_id = {item.logical_id: item for item in found}

    def attribute(logical_id: str, name: str) -> str:
        item = by_id[logical_id]
        if name not in item.attributes:
            raise KeyError(f"{logical_id} ({item.resource_type}): no {name} known for a retained resource")
        return item.attributes[name]

    return replace_resources(template, set(by_id), lambda name: by_id[name].ref, attribute)


def replace_resources(
    template: dict[str, Any],
    names: set[str],
    ref: Callable[[str], str],
    attribute: Callable[[str, str], str],
) -> dict[str, Any]:
    """The template without the resources `names`: a `Ref`, `Fn::GetAtt` or `${...}` of `Fn::Sub` on one becomes
    the text `ref` or `attribute` gives, and a resource's `DependsOn` on one is dropped."""

    def substitute(text: str, own: set[str]) -> str:
        def one(match: re.Match[str]) -> str:
            logical_id, _, name = match.group(1).partition(".")
            if logical_id not in names or logical_id in own:
                return match.group(0)
            return attribute(logical_id, name) if name else ref(logical_id)

        return _SUB_NAME.sub(one, text)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in names:
                return ref(node["Ref"])
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                logical_id, name = target if isinstance(target, list) else str(target).split(".", 1)
                if logical_id in names:
                    return attribute(logical_id, str(name))
            if set(node) == {"Fn::Sub"}:
                value = node["Fn::Sub"]
                if isinstance(value, str):
                    return {"Fn::Sub": substitute(value, set())}
                return {"Fn::Sub": [substitute(value[0], set(value[1])), walk(value[1])]}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    def resource(body: dict[str, Any]) -> dict[str, Any]:
        result = walk(body)
        depends = body.get("DependsOn")
        if depends is not None:
            kept = [
                name for name in ([depends] if isinstance(depends, str) else depends) if name not in names
            ]
            if kept:
                result["DependsOn"] = kept
            else:
                del result["DependsOn"]
        return result  # type: ignore[no-any-return]

    result = {key: walk(value) for key, value in template.items() if key not in ("Resources", "Conditions")}
    if "Conditions" in template:
        result["Conditions"] = copy.deepcopy(template["Conditions"])
    result["Resources"] = {
        name: resource(body) for name, body in template.get("Resources", {}).items() if name not in names
    }
    return result


def release_route_tables(cloudformation: Any, ec2: Any, stack: str) -> int:
    """moto's CloudFormation cannot delete a route table (its RouteTable model has no delete), so deleting the
    network stack fails on the VPC, and moto has then dropped the stack but not its exports: the next create of
    the stack fails on "Export names must be unique". On a local endpoint the deploy tool deletes the stack's
    route tables (their subnet associations first) before the stack. The number deleted."""
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    ids = [r["PhysicalResourceId"] for r in resources if r.get("ResourceType") == "AWS::EC2::RouteTable"]
    if not ids:
        return 0
    for table in ec2.describe_route_tables(RouteTableIds=ids)["RouteTables"]:
        for association in table.get("Associations", []):
            if not association.get("Main"):
                ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    return len(ids)


# How the deploy tool's error about such a stack begins: the sandbox restarts moto on it (sandbox/manager/deployment.py).
MOTO_LOST = "the local AWS (moto) lost"


def lost_resources(cloudformation: Any, client: Callable[[str], Any], stack: str) -> list[str]:
    """The logical ids of the stack's SQS queues, S3 buckets and Kinesis streams that moto lists but no longer has
    (see above)."""
    lost = []
    for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]:
        check = _CHECKS.get(resource.get("ResourceType", ""))
        if check is None or not resource.get("PhysicalResourceId"):
            continue
        try:
            check(client, resource["PhysicalResourceId"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _GONE:
                raise
            lost.append(str(resource["LogicalResourceId"]))
    return lost


# Per type: a call that fails when moto no longer has the resource of this physical id.
_CHECKS: dict[str, Callable[[Callable[[str], Any], str], object]] = {
    "AWS::SQS::Queue": lambda client, url: client("sqs").get_queue_attributes(QueueUrl=url),
    "AWS::S3::Bucket": lambda client, name: client("s3").head_bucket(Bucket=name),
    "AWS::Kinesis::Stream": lambda client, name: client("kinesis").describe_stream_summary(StreamName=name),
}
_GONE = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "404",
    "NoSuchBucket",
    "ResourceNotFoundException",
}
