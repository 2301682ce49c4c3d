"""Finds what a deleted stack left behind (its resources with `DeletionPolicy: Retain`), by the names the template
gives them, so that creating the stack again takes them back instead of failing on a name that exists (the table,
the queues, the log groups, the secrets, the key's alias) or starting on an empty store (the file system, found by
its Name tag, and the key, found by its alias).

On AWS the deploy tool imports what it finds (an IMPORT change set) before the stack's first update; moto cannot
import, so on a local endpoint the template names the found resources directly (infrastructure/compat.py). Why
import rather than `Existing...` parameters: one way for every retained resource, with no parameter or condition
per resource in the templates, and each resource stays managed by its stack after it is taken back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


class ReattachError(RuntimeError):
    """A retained resource was found in a state a deploy cannot take it back in; the message says what to do."""


@dataclass(frozen=True)
class Found:
    """A retained resource that exists: how to import it, and what `Ref` and `Fn::GetAtt` on it give."""

    logical_id: str
    resource_type: str
    identifier: dict[str, str]
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)

    def to_import(self) -> dict[str, Any]:
        return {
            "ResourceType": self.resource_type,
            "LogicalResourceId": self.logical_id,
            "ResourceIdentifier": self.identifier,
        }


Clients = Callable[[str], Any]
_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")


def resolve(node: Any, values: Mapping[str, str]) -> str | None:
    """A name from the template with these parameter (and pseudo-parameter) values: a literal, a `Ref` or an
    `Fn::Sub` text; None for anything else."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return values.get(node["Ref"])
    if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
        text, own = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        given = {**values, **{name: resolve(value, values) for name, value in own.items()}}
        names = _SUB_NAME.findall(text)
        if any(given.get(name) is None for name in names):
            return None
        return _SUB_NAME.sub(lambda match: str(given[match.group(1)]), text)
    return None


def _missing(error: ClientError, *codes: str) -> bool:
    return error.response.get("Error", {}).get("Code") in codes


def _aliases(clients: Clients) -> dict[str, dict[str, Any]]:
    return {
        alias["AliasName"]: alias
        for page in clients("kms").get_paginator("list_aliases").paginate()
        for alias in page["Aliases"]
    }


def _key(
    clients: Clients, logical_id: str, template: dict[str, Any], values: Mapping[str, str], check_state: bool
) -> Found | None:
    """The key that the template's retained alias of it still names (its state checked with `check_state`)."""
    names = [
        resolve(resource.get("Properties", {}).get("AliasName"), values)
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::KMS::Alias"
        and resource.get("Properties", {}).get("TargetKeyId") == {"Ref": logical_id}
    ]
    aliases = _aliases(clients)
    for name in filter(None, names):
        alias = aliases.get(name)
        if alias is None or "TargetKeyId" not in alias:
            continue
        key_id = alias["TargetKeyId"]
        # A key's ARN is its alias's with key/<id> for alias/<name> (same partition, region and account).
        arn = alias["AliasArn"].rsplit(":", 1)[0] + f":key/{key_id}"
        state = (
            clients("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] if check_state else "Enabled"
        )
        if state != "Enabled":
            raise ReattachError(
                f"the data key {name} ({key_id}) is {state}: the retained data need it; take it back "
                f"(aws kms cancel-key-deletion --key-id {key_id}, then enable-key), or delete the alias to start "
                f"with a new key"
            )
        return Found(logical_id, "AWS::KMS::Key", {"KeyId": key_id}, key_id, {"Arn": arn, "KeyId": key_id})
    return None


def _alias(clients: Clients, logical_id: str, name: str) -> Found | None:
    if name in _aliases(clients):
        return Found(logical_id, "AWS::KMS::Alias", {"AliasName": name}, name)
    return None


def _file_system(clients: Clients, logical_id: str, name: str) -> Found | None:
    """The one available file system whose Name tag is the template's."""
    matches = [
        system
        for page in clients("efs").get_paginator("describe_file_systems").paginate()
        for system in page["FileSystems"]
        if system.get("Name") == name and system.get("LifeCycleState") == "available"
    ]
    if len(matches) > 1:
        ids = ", ".join(system["FileSystemId"] for system in matches)
        raise ReattachError(f"{len(matches)} file systems are named {name} ({ids}): keep the one to use")
    if not matches:
        return None
    system = matches[0]
    return Found(
        logical_id,
        "AWS::EFS::FileSystem",
        {"FileSystemId": system["FileSystemId"]},
        system["FileSystemId"],
        {"Arn": system["FileSystemArn"], "FileSystemId": system["FileSystemId"]},
    )


def _table(clients: Clients, logical_id: str, name: str) -> Found | None:
    try:
        table = clients("dynamodb").describe_table(TableName=name)["Table"]
    except ClientError as error:
        if _missing(error, "ResourceNotFoundException"):
            return None
        raise
    attributes = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Found(logical_id, "AWS::DynamoDB::Table", {"TableName": name}, name, attributes)


def _queue(clients: Clients, logical_id: str, name: str) -> Found | None:
    sqs = clients("sqs")
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if _missing(error, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return None
        raise
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Found(
        logical_id,
        "AWS::SQS::Queue",
        {"QueueUrl": url},
        url,
        {"Arn": arn, "QueueName": name, "QueueUrl": url},
    )


def _log_group(clients: Clients, logical_id: str, name: str) -> Found | None:
    for group in clients("logs").describe_log_groups(logGroupNamePrefix=name).get("logGroups", []):
        if group["logGroupName"] == name:
            return Found(
                logical_id, "AWS::Logs::LogGroup", {"LogGroupName": name}, name, {"Arn": group["arn"]}
            )
    return None


def _secret(clients: Clients, logical_id: str, name: str) -> Found | None:
    try:
        secret = clients("secretsmanager").describe_secret(SecretId=name)
    except ClientError as error:
        if _missing(error, "ResourceNotFoundException"):
            return None
        raise
    if "DeletedDate" in secret:
        raise ReattachError(
            f"the secret {name} is scheduled for deletion and its name is taken: take it back "
            f"(aws secretsmanager restore-secret --secret-id {name}) or delete it for good"
        )
    return Found(logical_id, "AWS::SecretsManager::Secret", {"Id": secret["ARN"]}, secret["ARN"])


# Each type: the property that names the resource, and how to find it by that name.
_BY_NAME: dict[str, tuple[str, Callable[[Clients, str, str], Found | None]]] = {
    "AWS::KMS::Alias": ("AliasName", _alias),
    "AWS::DynamoDB::Table": ("TableName", _table),
    "AWS::SQS::Queue": ("QueueName", _queue),
    "AWS::Logs::LogGroup": ("LogGroupName", _log_group),
    "AWS::SecretsManager::Secret": ("Name", _secret),
}


def _name_tag(properties: dict[str, Any]) -> Any:
    return next(
        (tag.get("Value") for tag in properties.get("FileSystemTags", []) if tag.get("Key") == "Name"), None
    )


def retained(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("DeletionPolicy") == "Retain"
    }


def find(
    clients: Clients,
    template: dict[str, Any],
    values: Mapping[str, str],
    skip: Iterable[str] = (),
    check_key_state: bool = True,
) -> list[Found]:
    """The template's retained resources (but those in `skip`) that exist outside any stack's hold."""
    skipped = set(skip)
    found = []
    for logical_id, resource in retained(template).items():
        if logical_id in skipped:
            continue
        kind, properties = resource.get("Type", ""), resource.get("Properties", {})
        result: Found | None = None
        if kind == "AWS::KMS::Key":
            result = _key(clients, logical_id, template, values, check_key_state)
        elif kind == "AWS::EFS::FileSystem":
            name = resolve(_name_tag(properties), values)
            result = _file_system(clients, logical_id, name) if name else None
        elif kind in _BY_NAME:
            prop, finder = _BY_NAME[kind]
            name = resolve(properties.get(prop), values)
            result = finder(clients, logical_id, name) if name else None
        if result is not None:
            found.append(result)
    return importable(template, found)


def references(node: Any) -> set[str]:
    """The logical ids (and parameters) a part of a template names: Ref, Fn::GetAtt, Fn::Sub and DependsOn."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                names.add(value)
            elif key == "Fn::GetAtt":
                target = value if isinstance(value, list) else str(value).split(".", 1)
                names.add(str(target[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                names |= {name.split(".", 1)[0] for name in _SUB_NAME.findall(text)}
                if not isinstance(value, str):
                    names |= references(value[1])
            elif key == "DependsOn":  # a resource's (an ECS container's holds objects, not names)
                names |= {v for v in ([value] if isinstance(value, str) else value) if isinstance(v, str)}
                names |= references(
                    [v for v in value if not isinstance(v, str)] if isinstance(value, list) else []
                )
            else:
                names |= references(value)
    elif isinstance(node, list):
        for item in node:
            names |= references(item)
    return names


def importable(template: dict[str, Any], found: list[Found]) -> list[Found]:
    """Those of `found` that refer to no resource of the template outside the found ones (an import template
    holds only the imported resources)."""
    resources = template.get("Resources", {})
    kept = {item.logical_id: item for item in found}
    changed = True
    while changed:
        changed = False
        for logical_id in list(kept):
            outside = (references(resources[logical_id]) & set(resources)) - set(kept)
            if outside:
                del kept[logical_id]
                changed = True
    return [item for item in found if item.logical_id in kept]


def import_template(template: dict[str, Any], found: list[Found]) -> dict[str, Any]:
    """The template of the IMPORT change set that starts the stack: only the found resources, no outputs
    (an import may add no output)."""
    names = {item.logical_id for item in found}
    body = {key: value for key, value in template.items() if key != "Outputs"}
    body["Resources"] = {name: r for name, r in template["Resources"].items() if name in names}
    return body
