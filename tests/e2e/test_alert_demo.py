"""The demo's alert step on the whole local pipeline: a device over its threshold and one gone silent, published
over MQTT through the rule and the function, both fire; a sensor of the run that is fine stays normal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from grafana.alert_check import FIRING, evaluate_all, reader_for
from sandbox.scenarios import alert_demo
from tests.support.pipeline import Pipeline, reading


def test_both_fire_through_the_pipeline_and_the_rest_is_normal(direct_pipeline: Pipeline) -> None:
    endpoints = direct_pipeline.endpoints
    since = datetime.now(UTC) - timedelta(seconds=1)
    kind, _ = alert_demo.alerting_kind()
    direct_pipeline.publish(kind.topic, [reading("fine01", datetime.now(UTC), pressure=900)])

    scenario = alert_demo.run_scenario(endpoints)
    instances = evaluate_all(reader_for(endpoints))
    firing = {(i.sensor, i.labels["check"]) for i in instances if i.state == FIRING}
    assert (scenario.hot_sensor, "threshold") in firing
    assert (scenario.quiet_sensor, "silent") in firing
    hot = next(i for i in instances if i.sensor == scenario.hot_sensor and i.labels["check"] == "threshold")
    assert hot.labels["manufacturer"] == "Acme Devices Ltd.", "the metadata item's tags label the alert"

    fleet = alert_demo.fleet_sensors(endpoints, since)
    assert "fine01-fine01-client" in fleet
    table, ok = alert_demo.summary(scenario, instances, fleet)
    assert ok, [i for i in instances if i.sensor in fleet and i.state != "normal"]
    Console(width=200).print(table)
