"""The part of AWS IoT's rule SQL that the local rule runner plays.

Supported: `SELECT *`, a list of expressions with `AS`, the functions `topic()`, `topic(n)`, `clientid()` and
`principal()`, attribute paths (`a`, `a.b`), string and number literals, `true`/`false`/`null`, and a `WHERE` of
comparisons (`=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`) joined by `AND`, `OR`, `NOT` and parentheses.
Anything else is refused when the rule is parsed, naming the rule, so a rule that the sandbox
cannot play faithfully never runs half-understood. Basic Ingest (`$aws/rules/<rule name>/...`) as AWS plays it:
the message goes to the named rule only, its topic filter not applied; `topic()` is the topic as published,
`topic(n)` counts the levels after the prefix (`rule_receives`, `subscriptions`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest_to_influxdb import basic_ingest

JsonObject = dict[str, Any]


class RuleSqlError(ValueError):
    """The rule's SQL uses something the local rule runner does not play."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,|\*|\.)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class MessageContext:
    """What the broker knows about a message besides its payload."""

    topic: str
    # The publishing connection's MQTT client id; None when the broker does not say (mosquitto never tells a
    # subscriber who published), and then `clientid()` is null.
    client_id: str | None = None
    # The publishing connection's principal (`principal()`): for an X.509 certificate, the certificate id (the hex
    # SHA-256 of its DER), as the mutual-TLS endpoint stamps it; None on the password listener.
    principal: str | None = None


# An expression is evaluated against (payload, delivery).
Expression = Callable[[JsonObject, MessageContext], Any]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Projection:
    star: bool
    columns: tuple[tuple[str, Expression], ...]


@dataclass(frozen=True)
class RuleQuery:
    """A parsed rule: the topic filter it listens to, what it selects, and when."""

    sql: str
    topic_filter: str
    projection: Projection
    condition: Expression | None

    def apply(
        self, payload: JsonObject, topic: str, client_id: str | None = None, principal: str | None = None
    ) -> JsonObject | None:
        """The message the rule's actions receive, or None when the WHERE clause does not match. Columns
        overwrite attributes of the same name that `*` took from the payload."""
        delivery = MessageContext(topic, client_id, principal)
        if self.condition is not None and self.condition(payload, delivery) is not True:
            return None
        result: JsonObject = dict(payload) if self.projection.star else {}
        for name, expression in self.projection.columns:
            value = expression(payload, delivery)
            if value is not _UNDEFINED:  # AWS leaves out a column whose value is undefined
                result[name] = value
        return result


_UNDEFINED = object()


def _tokenize(sql: str, rule: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "bad"
        text = match.group(kind)
        if kind == "bad":
            raise RuleSqlError(f"rule {rule}: unexpected character {text!r} in {sql!r}")
        if kind == "word" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        tokens.append(_Token(kind, text))
    return tokens


class _Parser:
    def __init__(self, sql: str, rule: str) -> None:
        self.sql, self.rule = sql, rule
        self.tokens = _tokenize(sql, rule)
        self.position = 0

    def error(self, message: str) -> RuleSqlError:
        return RuleSqlError(
            f"rule {self.rule}: {message} in {self.sql!r}; the local rule runner plays SELECT * or a list of "
            "attributes with AS, topic(), clientid(), principal(), and a WHERE of comparisons with AND/OR"
        )

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.kind in ("keyword", "op") and token.text == text:
            self.position += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            found = self.peek()
            raise self.error(f"expected {text} but found {found.text if found else 'the end'}")

    def parse(self) -> RuleQuery:
        self.expect("SELECT")
        projection = self.projection()
        self.expect("FROM")
        token = self.peek()
        if token is None or token.kind != "string":
            raise self.error("FROM needs a quoted topic filter")
        self.position += 1
        topic_filter = _unquote(token.text)
        condition = self.condition() if self.accept("WHERE") else None
        if self.peek() is not None:
            raise self.error(f"unsupported {self.peek().text!r}")  # type: ignore[union-attr]
        return RuleQuery(self.sql, topic_filter, projection, condition)

    def projection(self) -> Projection:
        star, columns = False, []
        while True:
            if self.accept("*"):
                star = True
            else:
                start = self.position
                expression = self.operand()
                if self.accept("AS"):
                    token = self.peek()
                    if token is None or token.kind != "word":
                        raise self.error("AS needs a name")
                    self.position += 1
                    name = token.text
                else:
                    name = self._default_name(start)
                columns.append((name, expression))
            if not self.accept(","):
                return Projection(star, tuple(columns))

    def _default_name(self, start: int) -> str:
        token = self.tokens[self.position - 1]
        if token.kind == "word" and self.tokens[start].kind == "word":
            return token.text  # `SELECT a.b` is named `b`, as in AWS
        raise self.error("an expression other than an attribute needs AS <name>")

    def condition(self) -> Expression:
        left = self.conjunction()
        while self.accept("OR"):
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.negation()
        while self.accept("AND"):
            left = _both(left, self.negation())
        return left

    def negation(self) -> Expression:
        if self.accept("NOT"):
            inner = self.negation()
            return lambda p, d: inner(p, d) is not True
        if self.accept("("):
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Expression:
        left = self.operand()
        token = self.peek()
        if token is None or token.kind != "op" or token.text not in _COMPARISONS:
            raise self.error("WHERE needs a comparison (=, <>, <, <=, >, >=)")
        self.position += 1
        right, compare = self.operand(), _COMPARISONS[token.text]

        def evaluate(payload: JsonObject, delivery: MessageContext) -> bool:
            a, b = left(payload, delivery), right(payload, delivery)
            if a is _UNDEFINED or b is _UNDEFINED:
                return False
            try:
                return bool(compare(a, b))
            except TypeError:  # comparing a string with a number is undefined, as in AWS
                return False

        return evaluate

    def operand(self) -> Expression:
        token = self.peek()
        if token is None:
            raise self.error("an expression is missing")
        self.position += 1
        if token.kind == "string":
            text = _unquote(token.text)
            return lambda p, d: text
        if token.kind == "number":
            number = float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
            return lambda p, d: number
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
            constant = {"TRUE": True, "FALSE": False, "NULL": None}[token.text]
            return lambda p, d: constant
        if token.kind == "word" and self.accept("("):
            return self.function(token.text)
        if token.kind == "word":
            path = [token.text]
            while self.accept("."):
                part = self.peek()
                if part is None or part.kind != "word":
                    raise self.error("an attribute path needs a name after '.'")
                self.position += 1
                path.append(part.text)
            return lambda p, d: _lookup(p, path)
        raise self.error(f"unsupported {token.text!r}")

    def function(self, name: str) -> Expression:
        if name.lower() == "clientid":
            self.expect(")")
            return lambda p, d: d.client_id
        if name.lower() == "principal":
            self.expect(")")
            return lambda p, d: d.principal
        if name.lower() != "topic":
            raise self.error(f"the function {name}() is not supported")
        if self.accept(")"):
            return lambda p, d: d.topic
        token = self.peek()
        if token is None or token.kind != "number" or not token.text.isdigit():
            raise self.error("topic() takes no argument or a segment number")
        self.position += 1
        self.expect(")")
        index = int(token.text)

        def segment(payload: JsonObject, delivery: MessageContext) -> Any:
            parts = basic_ingest.suffix(delivery.topic).split("/")  # AWS counts after `$aws/rules/<rule>/`
            return parts[index - 1] if 1 <= index <= len(parts) else _UNDEFINED

        return segment


def _either(a: Expression, b: Expression) -> Expression:
    return lambda p, d: a(p, d) is True or b(p, d) is True


def _both(a: Expression, b: Expression) -> Expression:
    return lambda p, d: a(p, d) is True and b(p, d) is True


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _lookup(payload: JsonObject, path: list[str]) -> Any:
    value: Any = payload
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _UNDEFINED
        value = value[part]
    return value


def parse_rule(sql: str, rule: str) -> RuleQuery:
    """Parse a rule's SQL, or raise RuleSqlError naming the rule and what is not supported."""
    return _Parser(sql, rule).parse()


def rule_receives(rule_name: str, topic_filter: str, topic: str) -> bool:
    """Whether the rules engine hands a message on `topic` to the rule: a Basic Ingest topic goes to the rule it
    names and no other, without the rule's own topic filter; any other topic goes by the filter."""
    addressed = basic_ingest.rule_of(topic)
    if addressed is not None:
        return addressed == rule_name
    return topic_matches(topic_filter, topic)


def subscriptions(rules: list[tuple[str, str]]) -> list[str]:
    """What the local rules engine subscribes on the broker for (rule name, topic filter) pairs: each filter,
    and each rule's Basic Ingest topics."""
    return sorted(
        {f for name, topic_filter in rules for f in (topic_filter, basic_ingest.subscription(name))}
    )


def receives_basic_ingest(topic_filter: str) -> bool:
    """Whether a subscription would receive Basic Ingest topics on a broker, which IoT Core never lets a device or
    rule do (a filter that begins with a wildcard matches no `$` topic)."""
    levels = topic_filter.split("/")
    if levels[0] != "$aws" or len(levels) < 2:
        return False
    return levels[1] == "#" or (levels[1] in ("rules", "+") and len(levels) >= 3)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching, with `+` (one level) and `#` (the rest)."""
    filter_parts, topic_parts = topic_filter.split("/"), topic.split("/")
    for index, part in enumerate(filter_parts):
        if part == "#":
            return True
        if index >= len(topic_parts) or (part != "+" and part != topic_parts[index]):
            return False
    return len(filter_parts) == len(topic_parts)
