"""AWS IoT Core's authorization of MQTT operations, played from the policies stored in the IoT registry.

A request is allowed when some statement of the principal's policies allows it and none denies it
(an explicit Deny wins; no match means deny). A statement matches when its action matches (`iot:*`
style wildcards allowed), one of its resources matches the request's resource ARN, and its
conditions hold. Resources are matched as AWS matches them: the whole ARN, case-sensitive, with `*`
(any run of characters, `/` included) and `?` (one character) as the only wildcards; MQTT's `+` and
`#` are plain characters in an ARN. So the topic `/pressure/data` is `arn:aws:iot:REGION:ACCOUNT:topic//pressure/data`.

Policy variables (`${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`, ...) are substituted from the
connection; a variable that has no value for the connection (no thing is attached under that client
id) makes its resource match nothing, as on AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Connection:
    """What IoT Core knows about a connection when it evaluates a policy."""

    client_id: str
    thing_name: str | None  # the client id, when a thing of that name is attached to the certificate
    certificate_id: str
    common_name: str | None = None

    def variables(self) -> dict[str, str]:
        values = {
            "iot:ClientId": self.client_id,
            "iot:Certificate.Subject.CommonName": self.common_name,
            "iot:CertificateId": self.certificate_id,
            "iot:Connection.Thing.ThingName": self.thing_name,
            "iot:Connection.Thing.IsAttached": "true" if self.thing_name else "false",
        }
        return {name: value for name, value in values.items() if value is not None}


def topic_arn(region: str, account: str, topic: str) -> str:
    """The ARN IoT Core checks for publishing to or receiving from `topic` (a leading '/' stays: `topic//a`)."""
    return f"arn:aws:iot:{region}:{account}:topic/{topic}"


def topic_filter_arn(region: str, account: str, topic_filter: str) -> str:
    return f"arn:aws:iot:{region}:{account}:topicfilter/{topic_filter}"


def client_arn(region: str, account: str, client_id: str) -> str:
    return f"arn:aws:iot:{region}:{account}:client/{client_id}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcards(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def pattern_regex(pattern: str, variables: Mapping[str, str]) -> str | None:
    """The regular expression of a policy pattern, its variables filled in as literal text (their own `*` is no
    wildcard); None when one of them has no value for this connection."""
    parts, last = [], 0
    for match in _VARIABLE.finditer(pattern):
        parts.append(_wildcards(pattern[last : match.start()]))
        value = variables.get(match.group(1))
        if value is None:
            return None
        parts.append(re.escape(value))
        last = match.end()
    parts.append(_wildcards(pattern[last:]))
    return "".join(parts)


def resource_matches(pattern: str, resource: str, variables: Mapping[str, str]) -> bool:
    regex = pattern_regex(pattern, variables)
    return regex is not None and re.fullmatch(regex, resource, re.S) is not None


def action_matches(pattern: str, action: str) -> bool:
    return re.fullmatch(_wildcards(pattern.lower()), action.lower(), re.S) is not None


def _conditions_hold(conditions: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    """The condition operators devices' policies use; any other operator fails closed (the statement is ignored)."""
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            actual = variables.get(key)
            wanted = [str(v) for v in _as_list(expected)]
            if operator == "Bool":
                if actual is None or actual.lower() not in [w.lower() for w in wanted]:
                    return False
            elif operator == "StringEquals":
                if actual not in wanted:
                    return False
            elif operator == "StringLike":
                if actual is None or not any(resource_matches(w, actual, variables) for w in wanted):
                    return False
            else:
                return False
    return True


def _statement_matches(
    statement: Mapping[str, Any], action: str, resource: str, variables: Mapping[str, str]
) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        return False  # not used by IoT device policies; never read as a grant
    if not any(action_matches(a, action) for a in _as_list(statement.get("Action", []))):
        return False
    if not any(resource_matches(r, resource, variables) for r in _as_list(statement.get("Resource", []))):
        return False
    return _conditions_hold(statement.get("Condition", {}), variables)


def is_allowed(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, connection: Connection
) -> bool:
    """Whether the policies allow `action` (e.g. iot:Publish) on `resource` (an ARN) for this connection."""
    variables = connection.variables()
    allowed = False
    for policy in policies:
        for statement in _as_list(policy.get("Statement", [])):
            if _statement_matches(statement, action, resource, variables):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
