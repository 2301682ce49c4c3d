"""ingest_tools/migrate_store.py between two real influxd 1.x: the session's (the source, a database of its own) and a
second one started here (the target, made by the same start-up script as the ECS store). No InfluxDB 2.x server can
be installed here: the target's token path is the writer's, proven against its stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ingest_tools import migrate_store
from ingest_tools.migrate_store import Credentials, line
from reach.endpoints import Endpoints, InfluxEndpoint
from reach.influx import InfluxReader
from sandbox.manager.services import Sandbox

SOURCE_DB = "migrate_source"
# An hour ago to the second: within every retention policy of the target (the raw one keeps 30 days).
T0 = (int(time.time()) - 3600) * 1_000_000_000
SECOND = 1_000_000_000
POINTS = [  # retention policy, line protocol
    (
        "autogen",
        f'pressure,sensorID=p-1,site=hall\\ 2 pressureValue=1.5,viscosity=3i,ok=true,note="a \\"b\\", c" {T0}',
    ),
    ("autogen", f"pressure,sensorID=p-1,site=hall\\ 2 pressureValue=2.25,viscosity=4i {T0 + SECOND}"),
    ("autogen", f"pressure,sensorID=p\\,2 pressureValue=7,viscosity=0i {T0 + 2 * SECOND + 1}"),
    ("autogen", f"product_count,sensorID=s-1,product_id=x count=12i {T0 + 3 * SECOND}"),
    ("rp_1m", f"pressure,sensorID=p-1 pressureValue=1.875,viscosity=3.5 {T0}"),
]


def admin(influx: InfluxEndpoint, database: str) -> InfluxReader:
    user = influx.users.admin
    return InfluxReader(influx.url, database, user.username, user.password, ca_file=influx.ca_file)


def statement(influx: InfluxEndpoint, text: str) -> None:
    admin(influx, influx.database).raw(text)


def select(influx: InfluxEndpoint, database: str, text: str) -> list[dict[str, Any]]:
    """Series as InfluxDB sends them, times in nanoseconds (the copy must keep them to the nanosecond)."""
    series: list[dict[str, Any]] = (
        admin(influx, database).client.query(text, epoch="ns").raw.get("series", [])
    )
    return series


@pytest.fixture(scope="module")
def source(endpoints: Endpoints) -> InfluxEndpoint:
    """A database of its own on the session's influxd, with two retention policies and every field type."""
    influx = endpoints.influxdb
    for text in (
        f'DROP DATABASE "{SOURCE_DB}"',
        f'CREATE DATABASE "{SOURCE_DB}"',
        f'CREATE RETENTION POLICY "rp_1m" ON "{SOURCE_DB}" DURATION INF REPLICATION 1',
    ):
        statement(influx, text)
    credentials = (influx.users.admin.username, influx.users.admin.password)
    for rp in ("autogen", "rp_1m"):
        body = "\n".join(text for policy, text in POINTS if policy == rp)
        response = requests.post(
            f"{influx.url}/write",
            params={"db": SOURCE_DB, "rp": rp},
            data=body.encode(),
            auth=credentials,
            timeout=30,
            verify=influx.verify,
        )
        assert response.status_code == 204, response.text
    return influx


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxEndpoint]:
    """A second influxd, its database, retention policies and users made by services/influxdb/init-influxdb.sh."""
    second = Sandbox(tmp_path_factory.mktemp("target"))
    (second.root / "pids").mkdir(parents=True)
    second._save_state(second._new_state())  # ports and passwords of this influxd only
    try:
        second.start_service("influxdb")
        yield second.endpoints().influxdb
    finally:
        second.stop_service("influxdb")


def migrate(source: InfluxEndpoint, target: InfluxEndpoint, tmp_path: Path, *more: str) -> int:
    return migrate_store.main(
        [
            "--source-url",
            source.url,
            "--database",
            SOURCE_DB,
            "--target-url",
            target.url,
            "--target-database",
            target.database,
            "--rejects",
            str(tmp_path / "rejects.lp"),
            "--batch",
            "2",
            *(["--source-ca-file", source.ca_file] if source.ca_file else []),
            *(["--target-ca-file", target.ca_file] if target.ca_file else []),
            *more,
        ]
    )


@pytest.fixture
def credentials(source: InfluxEndpoint, target: InfluxEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATE_SOURCE_USER", source.users.admin.username)
    monkeypatch.setenv("MIGRATE_SOURCE_PASSWORD", source.users.admin.password)
    monkeypatch.setenv("MIGRATE_TARGET_USER", target.users.writer.username)  # the writer path: WRITE only
    monkeypatch.setenv("MIGRATE_TARGET_PASSWORD", target.users.writer.password)


def rows(
    influx: InfluxEndpoint, database: str, rp: str, measurement: str
) -> dict[tuple[Any, ...], dict[str, Any]]:
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for series in select(influx, database, f'SELECT * FROM "{rp}"."{measurement}" GROUP BY *'):
        tags = tuple(sorted((k, v) for k, v in series["tags"].items() if v))
        for row in series["values"]:
            found[(tags, row[0])] = dict(zip(series["columns"], row, strict=True))
    return found


def field_types(influx: InfluxEndpoint, database: str, rp: str, measurement: str) -> dict[str, str]:
    (series,) = select(influx, database, f'SHOW FIELD KEYS FROM "{rp}"."{measurement}"')
    return {name: kind for name, kind in series["values"]}


@pytest.mark.usefixtures("credentials")
def test_every_point_of_every_retention_policy_arrives_as_it_was(
    source: InfluxEndpoint, target: InfluxEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrate(source, target, tmp_path) == 0
    assert "total: read 5, written 5, refused 0" in capsys.readouterr().out
    for rp, measurement in (("autogen", "pressure"), ("autogen", "product_count"), ("rp_1m", "pressure")):
        assert rows(target, target.database, rp, measurement) == rows(source, SOURCE_DB, rp, measurement)
        assert field_types(target, target.database, rp, measurement) == field_types(
            source, SOURCE_DB, rp, measurement
        )
    # Again: the same points, nothing doubled.
    assert migrate(source, target, tmp_path, "--rp", "autogen") == 0
    assert len(rows(target, target.database, "autogen", "pressure")) == 3


@pytest.mark.usefixtures("credentials")
def test_through_a_file_as_when_the_ecs_store_is_gone_before_the_copy(
    source: InfluxEndpoint, target: InfluxEndpoint, tmp_path: Path
) -> None:
    for text in ('DROP DATABASE "file_copy"', 'CREATE DATABASE "file_copy"'):
        statement(target, text)
    owner = (target.users.admin.username, target.users.admin.password)
    exported = tmp_path / "telemetry.lp"
    since = datetime.fromtimestamp((T0 + SECOND) // SECOND, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # not the first
    arguments = [
        "--source-url",
        source.url,
        "--database",
        SOURCE_DB,
        "--out",
        str(exported),
        "--since",
        since,
        "--source-ca-file",
        str(source.ca_file),
    ]
    assert migrate_store.main(arguments) == 0
    text = exported.read_text()
    assert text.startswith(f"# CONTEXT-DATABASE: {SOURCE_DB}\n# CONTEXT-RETENTION-POLICY: autogen\n")
    assert f" {T0}\n" not in text and "rp_1m" not in text  # nothing of rp_1m is that recent
    # The file into the target as the ECS store's admin user would not be: the target's admin (its own database).
    os_env = {"MIGRATE_TARGET_USER": owner[0], "MIGRATE_TARGET_PASSWORD": owner[1]}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in os_env.items():
            patch.setenv(name, value)
        copied = [
            "--source-file",
            str(exported),
            "--target-url",
            target.url,
            "--database",
            "file_copy",
            "--target-ca-file",
            str(target.ca_file),
        ]
        assert migrate_store.main(copied) == 0
    assert len(rows(target, "file_copy", "autogen", "pressure")) == 2
    assert [r["count"] for r in rows(target, "file_copy", "autogen", "product_count").values()] == [12]
    assert field_types(target, "file_copy", "autogen", "pressure") == {
        "pressureValue": "float",
        "viscosity": "integer",
    }


@pytest.mark.usefixtures("credentials")
def test_a_refused_batch_is_kept_with_the_answer_and_counted(
    source: InfluxEndpoint, target: InfluxEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The target already holds field v of "conflict" as a float: the source's integer is a type conflict (400).
    writer = (target.users.writer.username, target.users.writer.password)
    requests.post(
        f"{target.url}/write",
        params={"db": target.database, "rp": "autogen"},
        data=f"conflict,sensorID=c v=1.5 {T0}".encode(),
        auth=writer,
        timeout=30,
        verify=target.verify,
    ).raise_for_status()
    owner = (source.users.admin.username, source.users.admin.password)
    requests.post(
        f"{source.url}/write",
        params={"db": SOURCE_DB, "rp": "autogen"},
        data=f"conflict,sensorID=c v=2i {T0}".encode(),
        auth=owner,
        timeout=30,
        verify=source.verify,
    ).raise_for_status()
    assert migrate(source, target, tmp_path, "--rp", "autogen") == 1
    out = capsys.readouterr().out
    assert "autogen.conflict: read 1, written 0, refused 1" in out
    kept = (tmp_path / "rejects.lp").read_text()
    assert "field type conflict" in kept and f"conflict,sensorID=c v=2i {T0}" in kept


def test_a_wrong_target_password_is_one_clear_line(
    source: InfluxEndpoint,
    target: InfluxEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIGRATE_SOURCE_USER", source.users.admin.username)
    monkeypatch.setenv("MIGRATE_SOURCE_PASSWORD", source.users.admin.password)
    monkeypatch.setenv("MIGRATE_TARGET_USER", "writer")
    monkeypatch.setenv("MIGRATE_TARGET_PASSWORD", "wrong")
    assert migrate(source, target, tmp_path, "--rp", "rp_1m") == 1
    error = capsys.readouterr().err
    assert "answered 401" in error and "stopped at rp_1m.pressure after 0 of its points" in error


def test_line_protocol_escapes_and_types() -> None:
    assert (
        line(
            "a b,c",
            {"k 1": "v,=x", "empty": ""},
            {"f": (1, "integer"), "s": ('q"\\', "string"), "b": (False, "boolean"), "x": (2, "float")},
            5,
        )
        == 'a\\ b\\,c,k\\ 1=v\\,\\=x f=1i,s="q\\"\\\\",b=false,x=2.0 5'
    )
    assert migrate_store.measurement_of("a\\ b\\,c,k=v f=1 5") == "a b,c"
    assert Credentials(token="t").header() == {"Authorization": "Token t"}
    assert Credentials(username="u", password="p").header() == {"Authorization": "Basic dTpw"}
    assert Credentials.from_secret('{"token": "abc"}') == Credentials(token="abc")
