"""The writer against the managed store's answers, which no local server can give: InfluxDB 2.x and 3.x cannot be
installed here, so these run against tests/support/influx_v2_standin.py, a STAND-IN that answers with the
status codes and bodies InfluxData's and AWS's references document:

- InfluxDB OSS v2 API, POST /api/v2/write and the 1.x-compatible POST /write: 204; 400 {"code":"invalid",
  "message":...} (a malformed line, nothing written); 401 {"code":"unauthorized","message":"unauthorized
  access"}; 404; 413 (LineProtocolLengthError {"code","message","maxLength"}); 503 with Retry-After
  (influxdata/openapi src/oss/paths/write.yml; docs.influxdata.com/influxdb/v2/api/write/,
  docs.influxdata.com/influxdb/v2/write-data/troubleshoot/);
- InfluxDB 2.x's partial write "failure writing points to database: partial write: ... dropped=N" answered 422
  (github.com/influxdata/influxdb/discussions/24440), and 429 with Retry-After
  (docs.influxdata.com/influxdb/cloud/api/write/);
- InfluxDB 3: 400 {"error":"partial write of line protocol occurred","data":[{"original_line","line_number",
  "error_message"}]}, the other lines written (docs.influxdata.com/influxdb3/core/write-data/troubleshoot/,
  docs.influxdata.com/influxdb3/core/write-data/http-api/v3-write-lp/);
- Timestream for InfluxDB's `max-http-request-size`: 10 MiB by default, 1 KiB-16 MiB, larger requests answered
  413 (docs.aws.amazon.com/timestream/latest/developerguide/max-http-request-size.html).

The writer speaks only the 1.x-compatible /write; its Basic-auth path keeps its tests against the real influxd
(test_function.py, test_hostile.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from ingest_to_influxdb.errors import InfluxUnavailable
from ingest_to_influxdb.influx_writer import MAX_BATCH_LINES, MAX_REQUEST_BYTES, InfluxWriter
from ingest_to_influxdb.secrets import Credentials, credentials_from

from tests.support.influx_v2_standin import Flavour, InfluxStandIn

DATABASE = "telemetry"


@dataclass
class Rotating:
    """The secret as the writer sees it (secrets.SecretCredentials without Secrets Manager): `refresh()` moves
    to the next value, as a rotation would."""

    values: list[Credentials]
    refreshes: int = 0

    def get(self) -> Credentials:
        return self.values[min(self.refreshes, len(self.values) - 1)]

    def refresh(self) -> None:
        self.refreshes += 1


@dataclass
class Clock:
    left: float = 30.0
    slept: list[float] = field(default_factory=list)

    def remaining(self) -> float:
        return self.left

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.left -= seconds


@dataclass
class Store:
    standin: InfluxStandIn
    bucket: str
    token: str

    def writer(self, *tokens: str, clock: Clock | None = None, **options: int) -> InfluxWriter:
        credentials = Rotating([Credentials(token=t) for t in (tokens or (self.token,))])
        return InfluxWriter(
            self.standin.url,
            DATABASE,
            credentials,
            sleep=(clock or Clock()).sleep,
            **options,  # type: ignore[arg-type]
        )

    def lines(self) -> list[str]:
        return self.standin.lines_in(self.bucket)


def _store(flavour: Flavour, **options: int) -> Iterator[Store]:
    with InfluxStandIn(flavour=flavour, **options) as standin:  # type: ignore[arg-type]
        bucket = standin.add_bucket(DATABASE)  # the virtual DBRP mapping telemetry/autogen (default)
        yield Store(standin, bucket, standin.write_token(bucket))


@pytest.fixture(params=["v2", "v3"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    yield from _store(request.param)


@pytest.fixture
def v2() -> Iterator[Store]:
    yield from _store("v2")


@pytest.fixture
def v3() -> Iterator[Store]:
    yield from _store("v3")


def point(i: int, value: str = "1.5") -> str:
    return f"pressure,sensorID=s{i} pressureValue={value} {1_700_000_000_000_000_000 + i}"


def test_a_token_secret_is_sent_as_a_token_and_a_password_one_as_basic() -> None:
    assert credentials_from({"token": "t0k"}) == Credentials(token="t0k")
    assert credentials_from({"username": "writer", "token": "t0k"}) == Credentials("writer", token="t0k")
    assert credentials_from({"username": "writer", "password": "pw"}) == Credentials("writer", "pw")
    assert credentials_from({"username": "writer"}) is None and credentials_from(["token"]) is None
    assert "t0k" not in repr(Credentials(token="t0k")) and "pw" not in repr(Credentials("u", "pw"))


def test_a_batch_is_written_with_the_token(store: Store) -> None:
    assert store.writer().write([point(i) for i in range(3)], Clock().remaining) == {}
    assert store.lines() == [point(i) for i in range(3)]


def test_basic_auth_reaches_a_v1_compatible_authorization(v2: Store) -> None:
    """A v2 store also takes username/password through a v1-compatible authorization (`influx v1 auth`)."""
    v2.standin.add_v1_user("writer", "secret", v2.bucket)
    writer = InfluxWriter(v2.standin.url, DATABASE, Rotating([Credentials("writer", "secret")]))
    assert writer.write([point(1)], Clock().remaining) == {}
    wrong = InfluxWriter(v2.standin.url, DATABASE, Rotating([Credentials("writer", "wrong")]))
    with pytest.raises(InfluxUnavailable, match="401"):
        wrong.write([point(2)], Clock().remaining)
    assert v2.lines() == [point(1)]


def test_a_refused_token_fetches_the_secret_once_more_then_keeps_the_readings(store: Store) -> None:
    rotated = store.writer("stale-token", store.token)  # the secret was rotated after the first fetch
    assert rotated.write([point(1)], Clock().remaining) == {}
    assert rotated.credentials.refreshes == 1  # type: ignore[attr-defined]
    wrong = store.writer("stale-token", "still-wrong")
    with pytest.raises(InfluxUnavailable, match="401: unauthorized access"):
        wrong.write([point(2)], Clock().remaining)
    assert wrong.credentials.refreshes == 1  # type: ignore[attr-defined]
    assert store.lines() == [point(1)]


def test_a_revoked_token_is_not_retried_for_ever(store: Store) -> None:
    auth = store.standin.authorization_for(store.token)
    assert auth is not None
    store.standin.set_status(auth["id"], "inactive")
    with pytest.raises(InfluxUnavailable, match="401"):
        store.writer().write([point(1)], Clock().remaining)


def test_no_mapping_for_the_database_keeps_the_readings(store: Store) -> None:
    writer = InfluxWriter(store.standin.url, "other", Rotating([Credentials(token=store.token)]))
    with pytest.raises(InfluxUnavailable, match="404: no dbrp mapping"):
        writer.write([point(1)], Clock().remaining)


def test_a_type_conflict_refuses_only_its_point_in_each_wording(store: Store) -> None:
    writer = store.writer()
    assert writer.write([point(0)], Clock().remaining) == {}
    batch = [point(1), point(2, '"text"'), point(3), point(4, "true"), point(5)]
    refused = writer.write(batch, Clock().remaining)
    assert sorted(refused) == [1, 3]
    assert 'input field "pressureValue" on measurement "pressure" is type string' in refused[1]
    assert "is type boolean, already exists as type float" in refused[3]
    assert sorted(store.lines()) == sorted([point(0), point(1), point(3), point(5)])


def test_a_line_that_does_not_parse_is_found_and_the_rest_written(store: Store) -> None:
    """v2 refuses the whole batch (400, nothing written); v3 writes the others (400, partial): the bisection
    finds the line either way and the others land once."""
    batch = [point(1), "pressure,sensorID=x", point(3), point(4)]
    refused = store.writer().write(batch, Clock().remaining)
    assert list(refused) == [1] and "unable to parse 'pressure,sensorID=x'" in refused[1]
    assert sorted(set(store.lines())) == [point(1), point(3), point(4)]


def test_v3_names_the_refused_line_in_its_own_words(v3: Store) -> None:
    refused = v3.writer().write(["pressure v=1 1", "pressure v=x 2"], Clock().remaining)
    assert refused == {1: "unable to parse 'pressure v=x 2': invalid field value 'x'"}


def test_a_batch_larger_than_the_store_takes_is_split_not_refused() -> None:
    flavours: tuple[Flavour, ...] = ("v2", "v3")
    for flavour in flavours:
        for store in _store(flavour, max_request_bytes=4096):
            writer = store.writer()
            batch = [point(i) for i in range(200)]  # about 12 KiB
            assert writer.write(batch, Clock().remaining) == {}
            assert sorted(store.lines()) == sorted(batch)
            assert writer.max_bytes <= 4096  # later batches go out under the limit at once
            before = len(store.standin.write_requests)
            assert writer.write([point(i) for i in range(200, 400)], Clock().remaining) == {}
            assert all(size <= 4096 for size in store.standin.write_requests[before:])


def test_a_single_line_above_the_limit_is_refused_with_the_reason() -> None:
    for store in _store("v3", max_request_bytes=1024):
        huge = f'pressure,sensorID=big note="{"x" * 2000}" 1'
        refused = store.writer().write([point(1), huge, point(2)], Clock().remaining)
        assert list(refused) == [1] and "larger than the store's request-size limit" in refused[1]
        assert sorted(store.lines()) == [point(1), point(2)]


def test_batches_stay_within_the_recommended_lines_and_bytes(store: Store) -> None:
    assert MAX_BATCH_LINES == 5_000 and MAX_REQUEST_BYTES <= 10 * 1024 * 1024
    writer = store.writer(max_lines=100)
    batch = [point(i) for i in range(250)]
    assert writer.write(batch, Clock().remaining) == {}
    assert len(store.standin.write_requests) == 3  # 100 + 100 + 50
    small = store.writer(max_bytes=2048)
    before = len(store.standin.write_requests)
    assert small.write([point(i) for i in range(250, 300)], Clock().remaining) == {}
    assert all(size <= 2048 for size in store.standin.write_requests[before:])
    assert len(set(store.lines())) == 300
    batch = [point(i) for i in range(300, 550)]
    batch[150] = "pressure,sensorID=bad"  # in the second chunk: its index is the batch's, not the chunk's
    assert list(writer.write(batch, Clock().remaining)) == [150]


def test_throttling_is_retried_after_the_stores_retry_after(store: Store) -> None:
    store.standin.fail_writes(429, times=1, retry_after="2")
    store.standin.fail_writes(503, times=1, retry_after="1")
    clock = Clock()
    assert store.writer(clock=clock).write([point(1)], clock.remaining) == {}
    assert clock.slept == [2.0, 1.0]
    assert store.lines() == [point(1)]


def test_a_retry_after_past_the_remaining_time_keeps_the_readings(store: Store) -> None:
    store.standin.fail_writes(503, times=1, retry_after="120")
    clock = Clock(left=10.0)
    with pytest.raises(InfluxUnavailable, match=r"503.*Retry-After of 120 s is past"):
        store.writer(clock=clock).write([point(1)], clock.remaining)
    assert clock.slept == [] and store.lines() == []


def test_server_errors_are_retried_briefly_then_kept_for_replay(store: Store) -> None:
    store.standin.fail_writes(500, times=10)
    clock = Clock()
    with pytest.raises(InfluxUnavailable, match="500"):
        store.writer(clock=clock).write([point(1)], clock.remaining)
    assert clock.slept == [0.1, 0.3, 0.8]  # no Retry-After: the writer's own delays
    store.standin.faults.clear()
    store.standin.fail_writes(429, times=2)  # throttled without Retry-After: the same delays
    clock = Clock()
    assert store.writer(clock=clock).write([point(2)], clock.remaining) == {}
    assert clock.slept == [0.1, 0.3] and store.lines() == [point(2)]


def test_an_unreachable_store_keeps_the_readings() -> None:
    with InfluxStandIn() as standin:
        url = standin.url
    writer = InfluxWriter(url, DATABASE, Rotating([Credentials(token="t")]), sleep=Clock().sleep)
    with pytest.raises(InfluxUnavailable, match="unreachable"):
        writer.write([point(1)], Clock().remaining)
