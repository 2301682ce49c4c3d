"""AWS IoT Core's authorization of MQTT operations, played from the policies stored in the IoT registry.

A request is allowed when some statement of the principal's policies allows it and none denies it
(an explicit Deny wins; no match means deny). A statement applies when its action matches (`Action`, or
any action but those of `NotAction`; `iot:*` style wildcards), its resource matches (`Resource`, or any
resource but those of `NotResource`) and all its conditions hold. Resources are matched as AWS matches them:
the whole ARN, case-sensitive, with `*` (any run of characters, `/` included) and `?` (one character) as the
only wildcards; MQTT's `+` and `#` are plain characters in an ARN. So the topic `/pressure/data` is
`arn:aws:iot:REGION:ACCOUNT:topic//pressure/data`.

Policy variables (`${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`, ...) are substituted from the
connection, in resources and in condition values; a variable that has no value for the connection (no thing
is attached under that client id) makes its resource pattern match nothing, as on AWS. Where that cannot be
decided safely (a `NotResource` pattern, or any condition value, with such a variable) the local endpoint fails
closed: an Allow does not apply and a Deny does.

Conditions follow IAM's condition operators (IAM User Guide, "IAM JSON policy elements: Condition operators"):
String*, Arn*, Bool, IpAddress/NotIpAddress and Null, each with `...IfExists`, and `ForAllValues:` /
`ForAnyValue:` for the multivalued `iot:ConnectAttributes`. "If the key that you specify in a policy condition
is not present in the request context, the values do not match and the condition is false. If the policy
condition requires that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not
present, the condition is true" (same page). A policy with anything else (another operator, a condition key or
variable the local endpoint does not know, an element IoT policies do not have) is refused when it is loaded
(`check_policy`), naming what it cannot evaluate: it is never skipped, so it can never fail open.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
POLICY_VERSION = "2012-10-17"  # policy variables are substituted only in documents of this version
_STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
# IoT's values of iot:ConnectAttributes (IoT developer guide, "Connect policy examples"): what a CONNECT asks for.
PERSISTENT_CONNECT, LAST_WILL = "PersistentConnect", "LastWill"


class PolicyError(ValueError):
    """A policy document the local endpoint cannot evaluate as IoT Core does; refused when it is loaded."""


@dataclass(frozen=True)
class Connection:
    """What IoT Core knows about a connection when it evaluates a policy."""

    client_id: str
    thing_name: str | None  # the client id, when a thing of that name is attached to the certificate
    certificate_id: str
    common_name: str | None = None
    source_ip: str | None = None
    # iot:ConnectAttributes, present in the request context of iot:Connect only (None for other actions).
    connect_attributes: tuple[str, ...] | None = None

    def variables(self) -> dict[str, str]:
        values = {
            "iot:ClientId": self.client_id,
            "iot:Certificate.Subject.CommonName": self.common_name,
            "iot:Connection.Thing.ThingName": self.thing_name,
            "iot:Connection.Thing.IsAttached": "true" if self.thing_name else "false",
            "aws:SourceIp": self.source_ip,
        }
        return {name: value for name, value in values.items() if value is not None}

    def context(self) -> dict[str, list[str]]:
        """The request context's condition keys (lower case: IAM's key names are case-insensitive)."""
        keys = {name.lower(): [value] for name, value in self.variables().items()}
        if self.connect_attributes is not None:
            keys["iot:connectattributes"] = list(self.connect_attributes)
        return keys


# The condition keys of a connection the local endpoint knows (lower case -> how AWS writes them), and the
# multivalued ones, which take a set operator.
SINGLE_KEYS = {
    k.lower(): k
    for k in (
        "iot:ClientId",
        "iot:Certificate.Subject.CommonName",
        "iot:Connection.Thing.ThingName",
        "iot:Connection.Thing.IsAttached",
        "aws:SourceIp",
    )
}
MULTI_KEYS = {"iot:connectattributes": "iot:ConnectAttributes"}
# The policy variables it fills in (IoT developer guide, "Basic AWS IoT Core policy variables", "X.509 Certificate
# AWS IoT Core policy variables", "Thing policy variables"): the same as its single-valued keys.
VARIABLES = set(SINGLE_KEYS.values())


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


def _substitute(text: str, variables: Mapping[str, str]) -> str | None:
    """A condition value with its variables filled in; None when one has no value for this connection."""
    missing = [m.group(1) for m in _VARIABLE.finditer(text) if m.group(1) not in variables]
    return None if missing else _VARIABLE.sub(lambda m: variables[m.group(1)], text)


# -- condition operators: (what the request holds, the policy's value, variables) -> match ---------------------
Test = Callable[[str, str, Mapping[str, str]], bool]


def _equals(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    return _substitute(wanted, variables) == actual


def _equals_ignore_case(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    value = _substitute(wanted, variables)
    return value is not None and value.lower() == actual.lower()


def _like(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    return resource_matches(wanted, actual, variables)


def _bool(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    return actual.lower() == wanted.lower()


def _arn_like(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    """IAM matches an ARN's six colon-separated parts one by one, each with its own wildcards."""
    have, want = actual.split(":", 5), wanted.split(":", 5)
    if len(have) != 6 or len(want) != 6:
        return False
    return all(resource_matches(w, h, variables) for h, w in zip(have, want, strict=True))


def _in_network(actual: str, wanted: str, variables: Mapping[str, str]) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


# name -> (test, negated)
OPERATORS: dict[str, tuple[Test, bool]] = {
    "StringEquals": (_equals, False),
    "StringNotEquals": (_equals, True),
    "StringEqualsIgnoreCase": (_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_equals_ignore_case, True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "Bool": (_bool, False),
    "ArnEquals": (_arn_like, False),  # IAM: ArnEquals and ArnLike behave the same
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "IpAddress": (_in_network, False),
    "NotIpAddress": (_in_network, True),
}
_SET_PREFIXES = ("ForAllValues:", "ForAnyValue:")


@dataclass(frozen=True)
class _Operator:
    base: str  # a key of OPERATORS, or "Null"
    quantifier: str | None  # "ForAllValues:", "ForAnyValue:" or None
    if_exists: bool

    @classmethod
    def parse(cls, name: str) -> _Operator:
        quantifier = next((p for p in _SET_PREFIXES if name.startswith(p)), None)
        rest = name[len(quantifier) :] if quantifier else name
        if_exists = rest.endswith("IfExists") and rest != "IfExists"
        base = rest[: -len("IfExists")] if if_exists else rest
        if base == "Null" and not (if_exists or quantifier):
            return cls(base, None, False)
        if base not in OPERATORS:
            raise PolicyError(
                f"condition operator '{name}' is not evaluated by the local IoT endpoint (it plays "
                f"{', '.join(OPERATORS)} and Null, each with IfExists, and ForAllValues:/ForAnyValue:)"
            )
        return cls(base, quantifier, if_exists)

    def holds(self, actual: list[str] | None, wanted: list[str], variables: Mapping[str, str]) -> bool:
        if self.base == "Null":  # "true": the key must be absent; "false": present
            return (actual is None) == (wanted[0].lower() == "true")
        if actual is None:
            if self.if_exists:
                return True
            if self.quantifier == "ForAllValues:":
                return True  # every one of no values matches
            if self.quantifier == "ForAnyValue:":
                return False
            return OPERATORS[self.base][1]  # a negated operator holds for an absent key, a positive one not
        test, negated = OPERATORS[self.base]

        def one(value: str) -> bool:
            matched = any(test(value, w, variables) for w in wanted)
            return not matched if negated else matched  # a negated operator: none of the values matches

        if self.quantifier == "ForAnyValue:":
            return any(one(v) for v in actual)
        return all(one(v) for v in actual)  # ForAllValues:, or the one value of a single-valued key


# -- checking a document when it is loaded ----------------------------------------------------------------------
def check_policy(document: Any) -> None:
    """Raise PolicyError naming the first thing in `document` that the local endpoint cannot evaluate as IoT
    Core does."""
    if not isinstance(document, dict):
        raise PolicyError("a policy document must be a JSON object")
    version = document.get("Version")
    statements = document.get("Statement")
    if not statements:
        raise PolicyError("the policy has no Statement")
    for index, statement in enumerate(_as_list(statements)):
        where = f"statement {index}" + (
            f" ({statement['Sid']})" if isinstance(statement, dict) and statement.get("Sid") else ""
        )
        try:
            _check_statement(statement, version)
        except PolicyError as error:
            raise PolicyError(f"{where}: {error}") from None


def _check_statement(statement: Any, version: Any) -> None:
    if not isinstance(statement, dict):
        raise PolicyError("a statement must be a JSON object")
    unknown = sorted(set(statement) - _STATEMENT_ELEMENTS)
    if unknown:
        raise PolicyError(f"element {unknown[0]} is not an element of IoT policies")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise PolicyError(f"Effect must be Allow or Deny, not {statement.get('Effect')!r}")
    for positive in ("Action", "Resource"):
        given = [e for e in (positive, f"Not{positive}") if e in statement]
        if len(given) != 1:
            raise PolicyError(f"a statement takes exactly one of {positive} and Not{positive}")
        values = _as_list(statement[given[0]])
        if not values or not all(isinstance(v, str) for v in values):
            raise PolicyError(f"{given[0]} must be a string or a list of strings")
        if positive == "Resource":
            for value in values:
                _check_variables(value, version)
    conditions = statement.get("Condition", {})
    if not isinstance(conditions, dict):
        raise PolicyError("Condition must be a JSON object")
    for name, tests in conditions.items():
        operator = _Operator.parse(name)
        if not isinstance(tests, dict) or not tests:
            raise PolicyError(f"condition {name} must map condition keys to values")
        for key, expected in tests.items():
            _check_condition(name, operator, key, _as_list(expected), version)


def _check_condition(name: str, operator: _Operator, key: str, values: list[Any], version: Any) -> None:
    lowered = key.lower()
    if lowered not in SINGLE_KEYS and lowered not in MULTI_KEYS:
        raise PolicyError(
            f"condition key '{key}' is not known to the local IoT endpoint (it has "
            f"{', '.join([*SINGLE_KEYS.values(), *MULTI_KEYS.values()])})"
        )
    if lowered in MULTI_KEYS and operator.quantifier is None and operator.base != "Null":
        raise PolicyError(f"'{key}' holds several values: qualify {name} with ForAllValues: or ForAnyValue:")
    if not values or not all(isinstance(v, str | bool) for v in values):
        raise PolicyError(f"the values of {name} {key} must be strings")
    for value in (str(v).lower() if isinstance(v, bool) else v for v in values):
        if operator.base in ("Bool", "Null") and value.lower() not in ("true", "false"):
            raise PolicyError(f"{name} takes 'true' or 'false', not {value!r}")
        if operator.base.endswith("IpAddress"):
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise PolicyError(f"{name} takes an IP address or CIDR range, not {value!r}") from None
        _check_variables(value, version)


def _check_variables(text: str, version: Any) -> None:
    for match in _VARIABLE.finditer(text):
        if version != POLICY_VERSION:
            raise PolicyError(
                f"'{match.group(0)}' is a policy variable only in a document of Version {POLICY_VERSION} "
                f"(this one has {version!r}, where it would be literal text)"
            )
        if match.group(1) not in VARIABLES:
            raise PolicyError(
                f"policy variable '{match.group(0)}' is not known to the local IoT endpoint (it has "
                f"{', '.join(sorted(VARIABLES))})"
            )


# -- evaluation -------------------------------------------------------------------------------------------------
def _conditions_hold(
    conditions: Mapping[str, Any], context: Mapping[str, list[str]], variables: Mapping[str, str]
) -> bool:
    for name, tests in conditions.items():
        operator = _Operator.parse(name)
        for key, expected in tests.items():
            wanted = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
            if not operator.holds(context.get(key.lower()), wanted, variables):
                return False
    return True


def _resource_applies(statement: Mapping[str, Any], resource: str, variables: Mapping[str, str]) -> bool:
    if "NotResource" in statement:
        patterns = _as_list(statement["NotResource"])
        if any(pattern_regex(p, variables) is None for p in patterns):
            return statement.get("Effect") == "Deny"  # cannot tell what is excluded: fail closed
        return not any(resource_matches(p, resource, variables) for p in patterns)
    return any(resource_matches(r, resource, variables) for r in _as_list(statement.get("Resource", [])))


def _statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, list[str]],
    variables: Mapping[str, str],
) -> bool:
    if "NotAction" in statement:
        if any(action_matches(a, action) for a in _as_list(statement["NotAction"])):
            return False
    elif not any(action_matches(a, action) for a in _as_list(statement.get("Action", []))):
        return False
    if not _resource_applies(statement, resource, variables):
        return False
    conditions = statement.get("Condition", {})
    if _unfilled(conditions, variables):
        return statement.get("Effect") == "Deny"  # cannot tell whether the conditions hold: fail closed
    return _conditions_hold(conditions, context, variables)


def _unfilled(conditions: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    """Whether a condition value names a variable that has no value for this connection."""
    return any(
        _substitute(str(value), variables) is None
        for tests in conditions.values()
        for expected in tests.values()
        for value in _as_list(expected)
    )


def is_allowed(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, connection: Connection
) -> bool:
    """Whether the policies allow `action` (e.g. iot:Publish) on `resource` (an ARN) for this connection.

    The policies must have passed `check_policy` (the access file's loader checks every one)."""
    variables, context = connection.variables(), connection.context()
    allowed = False
    for policy in policies:
        for statement in _as_list(policy.get("Statement", [])):
            if _statement_applies(statement, action, resource, context, variables):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
    return allowed
