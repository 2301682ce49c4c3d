"""An InfluxQL target for grafana-foundation-sdk, which ships no InfluxDB query type.

It produces the target Grafana's InfluxDB data source stores for a query written in raw InfluxQL mode.
"""

from __future__ import annotations

from typing import Any, Literal

from grafana_foundation_sdk.cog import builder, variants

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(variants.Dataquery):
    def __init__(self, ref_id: str, query: str, alias: str = "", result_format: ResultFormat = "time_series"):
        self.ref_id = ref_id
        self.query = query
        self.alias = alias
        self.result_format = result_format

    def to_json(self) -> dict[str, Any]:
        target: dict[str, Any] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            target["alias"] = self.alias
        return target


class InfluxQL(builder.Builder[InfluxQLQuery]):
    """`InfluxQL("SELECT ...").alias("$tag_sensorID")`: one target of a panel."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._internal = InfluxQLQuery(ref_id, " ".join(query.split()))

    def alias(self, alias: str) -> InfluxQL:
        self._internal.alias = alias
        return self

    def table(self) -> InfluxQL:
        self._internal.result_format = "table"
        return self

    def build(self) -> InfluxQLQuery:
        return self._internal
