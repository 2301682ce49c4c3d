"""Reads a synthesized CloudFormation template as the deployed stack sees it.

The rule runner needs the values the stack was deployed with: its parameters, its conditions, and the
physical ids of its resources. This evaluates the intrinsic functions the templates use, so nothing
about the rules is written twice by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceRef:
    """A reference to one of the template's own resources (`Ref` or `Fn::GetAtt`)."""

    logical_id: str
    attribute: str | None = None


class TemplateError(ValueError):
    """The template uses a construct this reader does not evaluate."""


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class DeployedTemplate:
    template: dict[str, Any]
    parameters: dict[str, str]  # as deployed; defaults fill the rest
    region: str
    account_id: str
    stack_name: str
    physical_ids: dict[str, str]  # logical id -> physical id, from the deployed stack
    exports: dict[str, str]

    def __post_init__(self) -> None:
        for name, spec in self.template.get("Parameters", {}).items():
            if name not in self.parameters and "Default" in spec:
                self.parameters[name] = str(spec["Default"])

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources

    def condition(self, name: str) -> bool:
        spec = self.template.get("Conditions", {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(spec))

    def is_created(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type and self.is_created(logical_id)
        }

    def properties_of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each created resource of the type (as `of_type`): its logical id and its properties, resolved."""
        for logical_id, resource in self.of_type(resource_type).items():
            yield logical_id, self.resolve(resource["Properties"])

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.resources:
            return ResourceRef(name)
        raise TemplateError(f"Ref to unknown name {name}")

    def resolve(self, node: Any) -> Any:
        """Evaluate intrinsic functions; references to resources stay `ResourceRef`s."""
        if isinstance(node, list):
            return [value for value in (self.resolve(item) for item in node) if value is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return _NO_VALUE if value == "AWS::NoValue" else self._ref(value)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, value)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _function(self, key: str, value: Any) -> Any:
        if key == "Fn::GetAtt":
            logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
            return ResourceRef(logical_id, attribute)
        if key == "Fn::If":
            name, when_true, when_false = value
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            a, b = (self.resolve(item) for item in value)
            return a == b
        if key == "Fn::Not":
            return not self.resolve(value[0])
        if key == "Fn::And":
            return all(self.resolve(item) for item in value)
        if key == "Fn::Or":
            return any(self.resolve(item) for item in value)
        if key == "Fn::Sub":
            return self._sub(value)
        if key == "Fn::Join":
            separator, items = value
            return separator.join(str(self.physical(item)) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = value
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::FindInMap":
            mapping, first, second = (str(self.resolve(item)) for item in value)
            try:
                return self.template["Mappings"][mapping][first][second]
            except KeyError:
                raise TemplateError(
                    f"Fn::FindInMap: {mapping}.{first}.{second} is not in the template"
                ) from None
        if key == "Fn::ImportValue":
            name = self.resolve(value)
            if name not in self.exports:
                raise TemplateError(f"the export {name} is not deployed")
            return self.exports[name]
        raise TemplateError(f"{key} is not evaluated by the local reader")

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.physical(variables[name]))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self.physical(ResourceRef(logical_id, attribute)))
            return str(self.physical(self._ref(name)))

        return _SUB_VARIABLE.sub(replace, text)

    def physical(self, value: Any) -> Any:
        """A resource reference as the value AWS would give: the physical id, or an ARN built from it."""
        if not isinstance(value, ResourceRef):
            return value
        physical_id = self.physical_ids.get(value.logical_id)
        if physical_id is None:
            raise TemplateError(f"resource {value.logical_id} is not deployed in {self.stack_name}")
        resource_type = self.resources[value.logical_id]["Type"]
        if value.attribute is None:
            return physical_id
        if resource_type == "AWS::SQS::Queue":
            name = physical_id.rstrip("/").rsplit("/", 1)[-1]
            return {"Arn": f"arn:aws:sqs:{self.region}:{self.account_id}:{name}", "QueueName": name}.get(
                value.attribute, physical_id
            )
        if resource_type == "AWS::Kinesis::Stream" and value.attribute == "Arn":
            return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{physical_id}"
        if resource_type == "AWS::S3::Bucket" and value.attribute == "Arn":
            return f"arn:aws:s3:::{physical_id}"
        if resource_type == "AWS::Lambda::Function" and value.attribute == "Arn":
            return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{physical_id}"
        if resource_type == "AWS::DynamoDB::Table" and value.attribute == "Arn":
            return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{physical_id}"
        return physical_id


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()
