"""`python -m grafana.alert_check`: every provisioned alert rule evaluated against the sandbox's InfluxDB, as Grafana would.

No Grafana server can run here, so this reads the alert-rules provisioning file a deploy gives Grafana (generated
from the catalog in use, as services/grafana/provisioning/alerting/alert-rules.yaml is for device-kinds/) and does
what Grafana's alerting does with it:
- each InfluxDB query with `$timeFilter` replaced by the evaluation's range (`time >= <from>ms and time <= <to>ms`,
  from the query's relativeTimeRange) and its result read with epoch=ms, one series per tag set;
- each series becomes one alert instance, labelled with the rule's labels and the series' tags (empty ones dropped);
- the server-side expressions: `reduce` (last, mean, min, max, sum, count; mode dropNN, replaceNN or strict) and
  `threshold` (gt, lt, within_range, outside_range); the condition fires where it is non-zero;
- the pending period (`for`): an instance is firing only if its condition held at every evaluation (one per group
  interval) over that period, pending if it holds now but not yet for that long;
- no series at all: the rule's noDataState; a query error: its execErrState.
It prints, per rule and sensor, firing, pending or normal and why.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from grafana.alert_rules import RULES_FILE, generate
from grafana.names import INFLUXDB_DATASOURCE_UID
from reach.endpoints import DEFAULT_PATH, Endpoints
from reach.influx import InfluxReader, QueryError, Series

FIRING = "firing"
PENDING = "pending"
NORMAL = "normal"
NO_DATA = "no data"
ERROR = "error"
Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
Query = Callable[[str], list[Series]]


class RuleError(ValueError):
    """A provisioned rule uses something this evaluator (and this project) does not: the message says what."""


@dataclass(frozen=True)
class Instance:
    """One alert instance of a rule at the last evaluation: its labels, state and why."""

    rule_uid: str
    rule_title: str
    labels: dict[str, str]
    state: str
    value: float | None
    reason: str

    @property
    def sensor(self) -> str:
        return self.labels.get("sensorID", "")


@dataclass(frozen=True)
class Step:
    """One evaluation's outcome per instance: the reduced value and whether the condition held."""

    values: dict[Labels, float | None]
    holds: dict[Labels, bool]
    column: str  # what the query selected ("pressureValue", "readings"): names the value in the reason


@dataclass
class ProvisionedRule:
    uid: str
    title: str
    condition: str
    data: list[dict[str, Any]]
    for_seconds: int
    interval_seconds: int
    labels: dict[str, str]
    no_data_state: str
    exec_err_state: str


def parse_duration(text: str | int) -> int:
    """Seconds of a Grafana duration: `5m`, `60s`, `1h30m`, `0s` (or a bare number of seconds)."""
    rest = str(text).strip()
    if rest.isdigit():
        return int(rest)
    if not re.fullmatch(r"(\d+[smhd])+", rest):
        raise RuleError(f"{text!r} is not a duration like 5m or 60s")
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(amount) * units[unit] for amount, unit in re.findall(r"(\d+)([smhd])", rest))


def load_rules(path: Path | None = None) -> list[ProvisionedRule]:
    """Every rule of a Grafana alert-rules provisioning file; by default the rules a deploy gives Grafana, made
    from the catalog in use (grafana/alert_rules.py), so a kind added or removed is followed at once."""
    document = yaml.safe_load(path.read_text() if path is not None else generate()[RULES_FILE])
    found = []
    for group in document.get("groups", []):
        interval = parse_duration(group["interval"])
        for rule in group["rules"]:
            found.append(
                ProvisionedRule(
                    uid=rule["uid"],
                    title=rule["title"],
                    condition=rule["condition"],
                    data=rule["data"],
                    for_seconds=parse_duration(rule.get("for", "0s")),
                    interval_seconds=interval,
                    labels=dict(rule.get("labels") or {}),
                    no_data_state=rule.get("noDataState", "NoData"),
                    exec_err_state=rule.get("execErrState", "Error"),
                )
            )
    return found


def time_filter(at: datetime, relative: dict[str, int]) -> str:
    """Grafana's InfluxQL `$timeFilter` for an evaluation at `at` (pkg/tsdb/influxdb: renderTimeFilter)."""
    start = at - timedelta(seconds=relative.get("from", 0))
    end = at - timedelta(seconds=relative.get("to", 0))
    return f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"


def _labels(tags: dict[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in tags.items() if v != ""))


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _query_result(
    item: dict[str, Any], at: datetime, run: Query
) -> tuple[dict[Labels, list[float | None]], str]:
    if item["datasourceUid"] != INFLUXDB_DATASOURCE_UID:
        raise RuleError(f"query {item['refId']}: data source {item['datasourceUid']!r} is not InfluxDB")
    text = str(item["model"]["query"]).replace("$timeFilter", time_filter(at, item["relativeTimeRange"]))
    result: dict[Labels, list[float | None]] = {}
    column = ""
    for series in run(text):
        value_columns = [c for c in series.columns if c != "time"]
        if len(value_columns) != 1:
            raise RuleError(
                f"query {item['refId']} returns {value_columns}: select exactly one value per series"
            )
        labels = _labels(series.tags)
        if labels in result:
            raise RuleError(f"query {item['refId']}: two series with the labels {dict(labels)}")
        result[labels] = [_number(v) for v in series.column(value_columns[0])]
        column = value_columns[0]
    return result, column


def reduce(values: Sequence[float | None], reducer: str, settings: dict[str, Any]) -> float | None:
    """Grafana's reduce expression on one series."""
    mode = settings.get("mode", "strict")
    if mode == "dropNN":
        numbers = [v for v in values if v is not None]
    elif mode == "replaceNN":
        numbers = [settings.get("replaceWithValue", 0) if v is None else v for v in values]
    elif any(v is None for v in values):
        return None
    else:
        numbers = [v for v in values if v is not None]
    if reducer == "count":
        return float(len(numbers))
    if not numbers:
        return None
    reducers: dict[str, Callable[[list[float]], float]] = {
        "last": lambda n: n[-1],
        "mean": lambda n: sum(n) / len(n),
        "min": min,
        "max": max,
        "sum": sum,
    }
    if reducer not in reducers:
        raise RuleError(f"reducer {reducer!r} is not one of {', '.join([*reducers, 'count'])}")
    return float(reducers[reducer](numbers))


def threshold(value: float | None, evaluator: dict[str, Any]) -> float | None:
    """Grafana's threshold expression: 1 where the evaluator matches, 0 where not, no value for no value."""
    if value is None:
        return None
    kind, params = evaluator["type"], [float(p) for p in evaluator["params"]]
    if kind == "gt":
        return float(value > params[0])
    if kind == "lt":
        return float(value < params[0])
    if kind == "within_range":
        return float(params[0] < value < params[1])
    if kind == "outside_range":
        return float(value < params[0] or value > params[1])
    raise RuleError(f"threshold type {kind!r} is not gt, lt, within_range or outside_range")


def evaluate_once(rule: ProvisionedRule, at: datetime, run: Query) -> Step:
    """One evaluation of the rule's queries and expressions at `at`."""
    frames: dict[str, dict[Labels, list[float | None]]] = {}
    numbers: dict[str, dict[Labels, float | None]] = {}
    column = ""
    for item in rule.data:
        model, ref = item["model"], item["refId"]
        if item["datasourceUid"] != "__expr__":
            frames[ref], column = _query_result(item, at, run)
        elif model["type"] == "reduce":
            source = frames.get(model["expression"])
            if source is None:
                raise RuleError(f"{ref}: reduce of {model['expression']!r}, which is not a query before it")
            numbers[ref] = {
                labels: reduce(values, model["reducer"], model.get("settings") or {})
                for labels, values in source.items()
            }
        elif model["type"] == "threshold":
            (condition,) = model["conditions"]
            numbers[ref] = {
                labels: threshold(value, condition["evaluator"])
                for labels, value in numbers[model["expression"]].items()
            }
        else:
            raise RuleError(f"{ref}: expression type {model['type']!r} is not reduce or threshold")
    reduced = next((numbers[i["refId"]] for i in rule.data if i["model"].get("type") == "reduce"), {})
    holds = {labels: bool(value) for labels, value in numbers[rule.condition].items()}
    return Step(values=dict(reduced), holds=holds, column=column)


def _why(rule: ProvisionedRule, step: Step, value: float | None, state: str, held: int, needed: int) -> str:
    evaluator = next(
        i["model"]["conditions"][0]["evaluator"] for i in rule.data if i["model"].get("type") == "threshold"
    )
    params = " to ".join(f"{p:g}" for p in evaluator["params"])
    shown = "no value" if value is None else f"{value:g}"
    symbol = {"gt": ">", "lt": "<", "within_range": "within", "outside_range": "outside"}[evaluator["type"]]
    test = f"{step.column} {shown} {symbol} {params}".strip()
    if state == FIRING:
        return f"{test}: true at all {needed} evaluations" if needed > 1 else f"{test}: true"
    if state == PENDING:
        return f"{test}: true at the last {held} of the {needed} evaluations the pending period needs"
    return f"{test}: false"


def evaluate(rule: ProvisionedRule, at: datetime, run: Query) -> list[Instance]:
    """The rule's instances at `at`, with the pending period played back over the evaluations before it."""
    needed = rule.for_seconds // rule.interval_seconds + 1
    try:
        steps = [
            evaluate_once(rule, at - timedelta(seconds=k * rule.interval_seconds), run) for k in range(needed)
        ]
    except QueryError as error:
        return [
            Instance(rule.uid, rule.title, dict(rule.labels), ERROR, None, f"{rule.exec_err_state}: {error}")
        ]
    now = steps[0]
    if not now.holds:
        state = NORMAL if rule.no_data_state == "OK" else NO_DATA
        return [
            Instance(
                rule.uid, rule.title, dict(rule.labels), state, None, f"no series ({rule.no_data_state})"
            )
        ]
    instances = []
    for labels, holding in sorted(now.holds.items()):
        held = 0
        for step in steps:
            if not step.holds.get(labels, False):
                break
            held += 1
        state = FIRING if held == needed else PENDING if holding else NORMAL
        value = now.values.get(labels)
        instances.append(
            Instance(
                rule.uid,
                rule.title,
                {**rule.labels, **dict(labels)},
                state,
                value,
                _why(rule, now, value, state, held, needed),
            )
        )
    return instances


def evaluate_all(
    reader: InfluxReader, at: datetime | None = None, rules_path: Path | None = None
) -> list[Instance]:
    """Every provisioned rule evaluated at `at` (default: now)."""
    moment = at or datetime.now(UTC)
    rules = load_rules(rules_path)
    return [instance for rule in rules for instance in evaluate(rule, moment, reader.query)]


def reader_for(endpoints: Endpoints) -> InfluxReader:
    """The sandbox's InfluxDB as Grafana's data source reads it: the reader user."""
    return InfluxReader.of(endpoints, "reader")


def table(instances: Sequence[Instance], title: str = "Alert rules, per sensor") -> Table:
    out = Table(title=title)
    for column in ("rule", "sensor", "labels", "state", "why"):
        out.add_column(column)
    style = {FIRING: "bold red", PENDING: "yellow", ERROR: "bold red", NORMAL: "green", NO_DATA: "dim"}
    for instance in instances:
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(instance.labels.items()) if k not in ("sensorID", "kind", "check")
        )
        out.add_row(
            instance.rule_title,
            instance.sensor or "-",
            labels,
            f"[{style[instance.state]}]{instance.state}[/]",
            instance.reason,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grafana.alert_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--endpoints", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    parser.add_argument(
        "--rules",
        type=Path,
        help="an alert-rules file (default: the rules of the catalog in use, as deployed)",
    )
    parser.add_argument("--firing", action="store_true", help="show only the firing and pending instances")
    args = parser.parse_args(argv)
    console = Console()
    try:
        instances = evaluate_all(reader_for(Endpoints.load(args.endpoints)), rules_path=args.rules)
    except (FileNotFoundError, RuleError, QueryError) as error:
        console.print(f"[bold red]cannot evaluate the alert rules[/]: {error}")
        return 2
    shown = [i for i in instances if i.state in (FIRING, PENDING, ERROR)] if args.firing else instances
    console.print(table(shown))
    counts = {state: sum(i.state == state for i in instances) for state in (FIRING, PENDING, NORMAL, ERROR)}
    console.print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
