"""The rule runner's session is subscribed to what the rules say on every connection, kept session or not.

The broker is a stand-in here (a pure test): it keeps a session's subscriptions across connections as MQTT 5
says (a SUBSCRIBE of a filter the session has replaces it; UNSUBSCRIBE removes it; a session not present holds
none) and answers SUBACK/UNSUBACK with reason codes. tests/e2e/test_new_kind.py does the same on mosquitto.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from awscrt import mqtt5

from local_aws.iot import mqtt_session as mqtt_intake
from local_aws.iot.mqtt_session import Intake
from local_aws.iot.subscriptions import SUBSCRIPTIONS_FILE, SubscriptionRecord, reconcile, unread_topics
from reach.endpoints import endpoints_file
from sandbox.scenarios.accounting import Accounting
from sandbox.scenarios.demo import summary_table
from simulator.api import FleetGroup, ToNoRule, no_rule_warning, readings_to_no_rule
from simulator.fleet import FleetSummary
from tests.support.rich_table import printed_rows
from tests.support.stopped_sandbox import stopped_endpoints

CLIENT_ID = "local-rules-demo-ingest"
PRESSURE, SHELF, ROOMS = "/pressure/data", "/shelf/data", "/rooms/climate"
BASIC = "$aws/rules/demo_ingest_pressure/#"


class Broker:
    """One client id's session on a broker: its subscriptions outlive a connection."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, mqtt5.Subscription] = {}
        self.refuse: set[str] = set()  # filters it answers NOT_AUTHORIZED
        self.answer = True  # False: the runner dies before any answer comes


class FakeClient:
    """What Intake calls of awscrt's mqtt5.Client, on the stand-in broker; records every request."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.subscribed: list[list[str]] = []
        self.unsubscribed: list[list[str]] = []

    def subscribe(self, packet: mqtt5.SubscribePacket) -> Future[mqtt5.SubackPacket]:
        self.subscribed.append([s.topic_filter for s in packet.subscriptions])
        codes = []
        for subscription in packet.subscriptions:
            if subscription.topic_filter in self.broker.refuse:
                codes.append(mqtt5.SubackReasonCode.NOT_AUTHORIZED)
            else:
                self.broker.subscriptions[subscription.topic_filter] = subscription
                codes.append(mqtt5.SubackReasonCode.GRANTED_QOS_1)
        return self._answer(mqtt5.SubackPacket(reason_codes=codes))

    def unsubscribe(self, packet: mqtt5.UnsubscribePacket) -> Future[mqtt5.UnsubackPacket]:
        self.unsubscribed.append(list(packet.topic_filters))
        codes = []
        for topic_filter in packet.topic_filters:
            existed = self.broker.subscriptions.pop(topic_filter, None) is not None
            codes.append(
                mqtt5.UnsubackReasonCode.SUCCESS
                if existed
                else mqtt5.UnsubackReasonCode.NO_SUBSCRIPTION_EXISTED
            )
        return self._answer(mqtt5.UnsubackPacket(reason_codes=codes))

    def _answer(self, packet: object) -> Future[object]:
        future: Future[object] = Future()
        if self.broker.answer:
            future.set_result(packet)
        return future


def connect(
    root: Path, broker: Broker, topics: list[str], session_present: bool = True
) -> tuple[Intake, FakeClient]:
    """A runner's start: its intake connects (never to a network: the client is the stand-in)."""
    intake = Intake(
        stopped_endpoints(),
        CLIENT_ID,
        topics,
        lambda _: None,
        SubscriptionRecord(root / SUBSCRIPTIONS_FILE, CLIENT_ID),
    )
    client = FakeClient(broker)
    intake.client = client
    if not session_present:
        broker.subscriptions.clear()  # a new session holds nothing
    intake._on_connected(
        mqtt5.LifecycleConnectSuccessData(connack_packet=mqtt5.ConnackPacket(session_present=session_present))
    )
    return intake, client


def recorded(root: Path) -> list[str] | None:
    return SubscriptionRecord(root / SUBSCRIPTIONS_FILE, CLIENT_ID).read()


def test_every_connection_makes_the_session_what_the_rules_say(tmp_path: Path) -> None:
    broker = Broker()

    # First start: a new session, no record.
    intake, client = connect(tmp_path, broker, [PRESSURE, SHELF, BASIC], session_present=False)
    assert intake.connected.is_set()
    assert client.subscribed == [[BASIC, PRESSURE, SHELF]] and client.unsubscribed == []
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [BASIC, PRESSURE, SHELF]
    assert all(
        s.qos == mqtt5.QoS.AT_LEAST_ONCE and s.retain_handling_type == mqtt5.RetainHandlingType.DONT_SEND
        for s in broker.subscriptions.values()
    )

    # Restarted with the same rules, the session kept: subscribed again (harmless), nothing removed.
    intake, client = connect(tmp_path, broker, [PRESSURE, SHELF, BASIC])
    assert intake.connected.is_set()
    assert client.subscribed == [[BASIC, PRESSURE, SHELF]] and client.unsubscribed == []

    # A kind added while the runner was away: its topic is subscribed although the session was kept.
    intake, client = connect(tmp_path, broker, [PRESSURE, SHELF, BASIC, ROOMS])
    assert client.subscribed == [[BASIC, PRESSURE, ROOMS, SHELF]] and client.unsubscribed == []
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [BASIC, PRESSURE, ROOMS, SHELF]

    # The kind removed: its subscription goes.
    intake, client = connect(tmp_path, broker, [PRESSURE, SHELF, BASIC])
    assert client.subscribed == [[BASIC, PRESSURE, SHELF]] and client.unsubscribed == [[ROOMS]]
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [BASIC, PRESSURE, SHELF]

    # A topic changed by parameter: the new one subscribed, the old one no longer.
    intake, client = connect(tmp_path, broker, ["/plant1/pressure", SHELF, BASIC])
    assert client.subscribed == [["$aws/rules/demo_ingest_pressure/#", "/plant1/pressure", SHELF]]
    assert client.unsubscribed == [[PRESSURE]]
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [BASIC, "/plant1/pressure", SHELF]

    # The broker lost the session: everything subscribed again, nothing to remove.
    intake, client = connect(tmp_path, broker, ["/plant1/pressure", SHELF, BASIC], session_present=False)
    assert client.unsubscribed == []
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [BASIC, "/plant1/pressure", SHELF]


def test_a_change_the_runner_did_not_see_answered_is_undone_next_time(tmp_path: Path) -> None:
    broker = Broker()
    connect(tmp_path, broker, [PRESSURE], session_present=False)
    broker.answer = False  # the runner dies after asking for a new topic, before the SUBACK
    intake, _ = connect(tmp_path, broker, [PRESSURE, ROOMS])
    assert not intake.connected.is_set()
    # What was asked for is recorded: the record never names less than the broker has.
    assert recorded(tmp_path) == [PRESSURE, ROOMS]
    broker.answer = True
    _, client = connect(tmp_path, broker, [PRESSURE])  # the kind was taken out again before the next start
    assert client.unsubscribed == [[ROOMS]]
    assert sorted(broker.subscriptions) == recorded(tmp_path) == [PRESSURE]


def test_a_refused_subscription_fails_the_start(tmp_path: Path) -> None:
    broker = Broker()
    broker.refuse = {ROOMS}
    intake, _ = connect(tmp_path, broker, [PRESSURE, ROOMS], session_present=False)
    assert not intake.connected.is_set()
    with pytest.raises(RuntimeError, match="NOT_AUTHORIZED"):
        intake._first_connection.result(timeout=0)


def test_a_kept_session_with_no_record_is_completed() -> None:
    assert reconcile([SHELF, PRESSURE], None, session_present=True).subscribe == [PRESSURE, SHELF]
    assert reconcile([SHELF], None, session_present=True).unsubscribe == []
    assert reconcile([SHELF], [PRESSURE], session_present=False).unsubscribe == []


def test_topics_no_subscription_reads_are_told(tmp_path: Path) -> None:
    assert unread_topics(tmp_path, [ROOMS]) is None  # no runner has subscribed here: nothing to tell
    SubscriptionRecord(tmp_path / SUBSCRIPTIONS_FILE, CLIENT_ID).write([PRESSURE, "/rooms/+", BASIC])
    topics = [PRESSURE, ROOMS, "/plant1/pressure", "$aws/rules/demo_ingest_pressure/pressure/data", SHELF]
    assert unread_topics(tmp_path, topics) == ["/plant1/pressure", SHELF]


def test_readings_to_no_rule_are_told_by_the_simulator_and_counted_apart_by_the_demo(tmp_path: Path) -> None:
    SubscriptionRecord(tmp_path / SUBSCRIPTIONS_FILE, CLIENT_ID).write([PRESSURE, SHELF])
    groups = [FleetGroup("pressure", 2, topic="/plant1/pressure"), FleetGroup("shelf", 2)]
    summary = FleetSummary(
        devices=4, sent=20, acknowledged=20, failed=0, retried=0, reconnects=0,
        by_type={"pressure": 10, "shelf": 10}, seconds=1.0,
    )  # fmt: skip
    to_no_rule = readings_to_no_rule(endpoints_file(tmp_path), groups, summary)
    assert to_no_rule == [ToNoRule("pressure", "/plant1/pressure", 10)]
    assert no_rule_warning(to_no_rule).startswith(
        "10 readings went to topics no deployed rule reads (10 pressure to /plant1/pressure)"
    )

    accounting = Accounting(sent=20, written=10, rejected=0, dead_letters=0, to_no_rule=10)
    assert accounting.settled and accounting.lost == 0
    table = summary_table(
        accounting, {"received": 10}, {"pressure": 10, "shelf": 10}, {"shelf": 10}, 0, {"pressure": 10}
    )
    rows = printed_rows(table, width=240)
    assert rows["to no rule (no deployed rule reads their topic: dropped by the broker)"] == ["10", "10", "0"]
    assert rows["lost = sent - written - rejected - dead letters - to no rule"] == ["0", "", ""]


def test_a_reconnection_the_broker_refuses_is_tried_again_while_it_lasts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_intake, "RETRY_SECONDS", 0.01)
    broker = Broker()
    intake, client = connect(tmp_path, broker, [PRESSURE], session_present=False)
    intake._on_disconnected(mqtt5.LifecycleDisconnectData())
    broker.refuse = {PRESSURE}  # e.g. the broker's ACL, corrected a moment later
    intake._on_connected(
        mqtt5.LifecycleConnectSuccessData(connack_packet=mqtt5.ConnackPacket(session_present=True))
    )
    assert not intake.connected.is_set()
    broker.refuse = set()
    assert intake.connected.wait(timeout=10)
    assert len(client.subscribed) >= 3


def test_a_record_that_cannot_be_written_fails_the_start_saying_why(tmp_path: Path) -> None:
    (tmp_path / "no-folder").write_text("a file where the sandbox folder should be")
    intake, client = connect(tmp_path / "no-folder", Broker(), [PRESSURE], session_present=False)
    with pytest.raises(RuntimeError, match=r"cannot record the subscriptions in .*no-folder"):
        intake._first_connection.result(timeout=0)
    assert client.subscribed == []  # nothing asked of the broker that the record would not name
