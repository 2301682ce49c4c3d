"""The cost model's arithmetic on a case worked out by hand, and docs/cost.md as the model writes it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from benchmarks import platform_logs
from benchmarks.cost import (
    DOC,
    PATHS,
    Assumptions,
    HandlerTiming,
    Measured,
    Model,
    Price,
    PriceList,
    Stacks,
    largest_fleet_rows,
    load_measured,
    load_prices,
    markdown,
    native_action_per_million,
    read_stacks,
    sql_acus,
    sql_idle_per_month,
    sql_per_million,
)

DIRECT, QUEUED, DIRECT_BASIC, QUEUED_BASIC, STREAM, STREAM_BASIC = PATHS


def price(usd: float) -> Price:
    return Price(usd=usd, unit="test", source="test")


PRICES = PriceList(
    region="test",
    read="2026-12-01",
    hours_per_month=730,
    prices={
        "iot_message_per_million": price(1.00),
        "iot_rule_triggered_per_million": price(0.15),
        "iot_action_per_million": price(0.15),
        "lambda_request_per_million": price(0.20),
        "lambda_gb_second_arm64": price(0.00001),
        "sqs_request_per_million": price(0.40),
        "dynamodb_read_request_unit_per_million": price(0.125),
        "cloudwatch_log_ingestion_per_gb": price(0.50),
        "cloudwatch_metric_per_month": price(0.30),
        "cloudwatch_alarm_per_month": price(0.10),
        "nat_gateway_hour": price(0.045),
        "ec2_instance_hour.t3.large": price(0.10),
        "alb_hour": price(0.02),
        "alb_lcu_hour": price(0.01),
        "efs_gb_month": price(0.30),
        "secret_per_month": price(0.40),
        "kms_key_per_month": price(1.00),
        "waf_web_acl_per_month": price(5.00),
        "waf_rule_per_month": price(1.00),
        "kinesis_shard_hour": price(0.015),
        "kinesis_put_payload_unit_per_million": price(0.014),
        "kinesis_on_demand_stream_hour": price(0.04),
        "kinesis_on_demand_gb_in": price(0.08),
        "kinesis_on_demand_gb_out": price(0.04),
        "aurora_serverless_v2_acu_hour": price(0.12),
        "aurora_storage_gb_month": price(0.10),
        "aurora_io_per_million": price(0.20),
        "rds_data_api_request_per_million": price(0.35),
        "rds_mysql_instance_hour.db.t4g.small": price(0.032),
        "rds_gp3_gb_month": price(0.115),
        "rds_proxy_vcpu_hour": price(0.015),
    },
    assumptions=Assumptions(
        lambda_full_vcpu_mb=1024,
        influxdb_bytes_per_reading=3,
        efs_base_gb=5,
        devices_per_metadata_item=10,
        sql_rows_per_reading=4,
        sql_request_bytes_per_row=256,
        sql_stored_bytes_per_row=100,
        sql_rows_per_acu_second=1000,
    ),
)
STACKS = Stacks(
    memory_mb=512,  # half a vCPU at 1,024 MB for a full one
    batch_size=1000,
    batch_window_seconds=5,
    cache_ttl_seconds=300,
    reserved_concurrency=10,
    architecture="arm64",
    instance_type="t3.large",
    hosts=2,
    resources=Counter(
        {
            "AWS::EC2::NatGateway": 2,
            "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
            "AWS::SecretsManager::Secret": 5,
            "AWS::KMS::Key": 1,
            "AWS::CloudWatch::Alarm": 3,
            "AWS::WAFv2::WebACL": 1,
        }
    ),
    kinds=2,
    raw_retention_days=30,
    fields_per_reading=2,
    waf_rules=3,
)
MEASURED = Measured(
    measured="2026-12-01",
    machine="test",
    direct=HandlerTiming(
        readings_per_invocation=1,
        seconds_per_invocation=0.004,
        cpu_seconds_per_invocation=0.002,
        log_bytes_per_invocation=1000,
    ),
    queued=[
        HandlerTiming(
            readings_per_invocation=10,
            seconds_per_invocation=0.01,
            cpu_seconds_per_invocation=0.005,
            log_bytes_per_invocation=1000,
        ),
        HandlerTiming(
            readings_per_invocation=1000,
            seconds_per_invocation=0.2,
            cpu_seconds_per_invocation=0.1,
            log_bytes_per_invocation=1000,
        ),
    ],
)
MODEL = Model(PRICES, STACKS, MEASURED)


def test_direct_path_per_million_readings_by_hand() -> None:
    # billed: 2 ms of CPU at half a vCPU = 4 ms, plus 2 ms waiting = 6 ms
    assert MODEL.billed_seconds(DIRECT, 1) == pytest.approx(0.006)
    parts = MODEL.per_million(DIRECT, 1000)
    assert parts["IoT Core messages"] == pytest.approx(1.00)
    assert parts["IoT Core rules and actions"] == pytest.approx(0.30)
    assert parts["SQS requests"] == 0
    assert parts["Lambda requests"] == pytest.approx(0.20)
    assert parts["Lambda duration"] == pytest.approx(1e6 * 0.006 * 0.5 * 0.00001)  # $0.03
    # 6 warm containers (1,000/s x 6 ms), 100 items, each read once per 300 s: 2 reads/s for 1,000 s, half a unit
    assert parts["DynamoDB reads (cached)"] == pytest.approx(1000 * 0.125 / 1e6)
    assert parts["CloudWatch logs"] == pytest.approx(0.50)  # 1,000 bytes x a million = 1 GB
    assert sum(parts.values()) == pytest.approx(2.030125)


def test_queued_path_per_million_readings_by_hand() -> None:
    assert MODEL.readings_per_batch(1000) == 1000  # 5 s of 1,000 readings/s fill a batch of 1,000
    assert MODEL.billed_seconds(QUEUED, 1000) == pytest.approx(0.3)  # 0.1 s CPU / 0.5 + 0.1 s waiting
    parts = MODEL.per_million(QUEUED, 1000)
    assert parts["SQS requests"] == pytest.approx(1.2 * 0.40)  # a send each, receive and delete by tens
    assert parts["Lambda requests"] == pytest.approx(1000 * 0.20 / 1e6)
    assert parts["Lambda duration"] == pytest.approx(1000 * 0.3 * 0.5 * 0.00001)
    assert parts["CloudWatch logs"] == pytest.approx(1e6 / 1e9 * 0.50)
    assert parts["DynamoDB reads (cached)"] == pytest.approx(1000 / 3 * 0.5 * 0.125 / 1e6)


def test_a_small_fleet_fills_batches_for_the_window_only_and_time_follows_the_batch() -> None:
    assert MODEL.readings_per_batch(20) == 100
    # between the measured batches of 10 and 1,000: 27.27 ms, of which 13.64 ms CPU -> 27.27 + 13.64 = 40.9 ms
    assert MODEL.billed_seconds(QUEUED, 100) == pytest.approx(0.041)


def test_basic_ingest_drops_the_messaging_charge_and_nothing_else() -> None:
    for plain, basic in ((DIRECT, DIRECT_BASIC), (QUEUED, QUEUED_BASIC), (STREAM, STREAM_BASIC)):
        saving = {k: v - MODEL.per_million(basic, 1000)[k] for k, v in MODEL.per_million(plain, 1000).items()}
        assert saving == {**dict.fromkeys(saving, 0.0), "IoT Core messages": pytest.approx(1.00)}


def test_the_fixed_part_by_hand() -> None:
    fixed = MODEL.fixed_per_month(1000)
    assert fixed["NAT gateways"] == pytest.approx(2 * 730 * 0.045)
    assert fixed["ECS hosts (2 x t3.large)"] == pytest.approx(2 * 730 * 0.10)
    assert fixed["Application Load Balancer"] == pytest.approx(730 * 0.03)
    # 1,000 readings/s for 30 days at 3 bytes, plus 5 GB
    assert fixed["EFS (InfluxDB's raw retention and the apps)"] == pytest.approx(
        (5 + 1000 * 30 * 86400 * 3 / 1e9) * 0.30
    )
    assert fixed["Secrets Manager"] == pytest.approx(2.0)
    assert fixed["CloudWatch metrics and alarms"] == pytest.approx(6 * 0.30 + 3 * 0.10)
    assert fixed["WAF web ACL (Waf=enabled, the default)"] == pytest.approx(5.00 + 3 * 1.00)
    month = MODEL.per_month(DIRECT, 1000)
    assert month["readings"] == pytest.approx(2.030125 * 1000 * 730 * 3600 / 1e6)
    assert month["total"] == pytest.approx(month["readings"] + sum(fixed.values()))


def test_the_stream_path_per_million_readings_by_hand() -> None:
    sized = Model(PRICES, replace(STACKS, stream_shards=2, stream_parallelization=1), MEASURED)
    assert sized.readings_per_batch(1000, stream=True) == 1000  # 500/s a shard fill 1,000 in 2 s
    parts = sized.per_million(STREAM, 1000)
    assert parts["SQS requests"] == 0
    # 2 shards x 730 h x $0.015 over a month of 1,000 readings/s, plus a PUT payload unit (400 B) a reading
    month_millions = 1000 * 730 * 3600 / 1e6
    assert parts["Kinesis stream"] == pytest.approx(2 * 730 * 0.015 / month_millions + 0.014)
    assert parts["Lambda duration"] == pytest.approx(1000 * 0.3 * 0.5 * 0.00001)  # as the queued batch
    assert sum(parts.values()) < sum(sized.per_million(QUEUED, 1000).values())
    assert sized.readings_per_batch(20, stream=True) == 50  # 20/s over 2 shards for 5 s
    on_demand = MODEL.per_million(STREAM, 1000)  # no shards sized: on demand, a KB in and out a reading
    assert on_demand["Kinesis stream"] == pytest.approx(730 * 0.04 / month_millions + 1.024 * (0.08 + 0.04))


def test_iot_core_s_own_influxdb_action_pays_the_messages_and_the_rule_alone() -> None:
    assert native_action_per_million(MODEL, 1000, basic_ingest=False) == {
        "IoT Core messages": pytest.approx(1.00),
        "IoT Core rules and actions": pytest.approx(0.30),
    }
    assert sum(native_action_per_million(MODEL, 1000, basic_ingest=True).values()) == pytest.approx(0.30)


def test_the_largest_fleet_s_rows_are_each_path_s_total_over_the_floor() -> None:
    model = Model(load_prices(), read_stacks(), load_measured())
    rows = {name: (total, ratio) for name, total, ratio in largest_fleet_rows(model)}
    assert len(rows) == len(PATHS) + 2
    floor = model.per_million(DIRECT, 100_000)["IoT Core rules and actions"]
    sized = model.for_fleet(STREAM_BASIC, 100_000)
    assert sized is not None
    total = sum(sized.per_million(STREAM_BASIC, 100_000).values())
    assert rows[STREAM_BASIC.name] == (f"${total:,.2f}", f"{total / floor:.2f} x")
    assert rows["IoT Core's influxDB action (V2/V3 store), Basic Ingest"] == ("$0.30", "1.00 x")


def test_sqs_tiers_lower_the_queue_s_price_past_100_billion_requests_a_month() -> None:
    tiered = PriceList.model_validate(
        {
            **PRICES.model_dump(),
            "prices": {
                **PRICES.model_dump()["prices"],
                "sqs_request_per_million": {
                    "usd": 0.40,
                    "unit": "t",
                    "source": "t",
                    "tiers": [(100_000, 0.40), (100_000, 0.30), (None, 0.24)],
                },
            },
        }
    )
    small, large = (
        Model(tiered, STACKS, MEASURED).per_million(QUEUED, n)["SQS requests"] for n in (1000, 100_000)
    )
    assert small == pytest.approx(1.2 * 0.40)  # 3.2 billion requests a month: the first tier
    requests = 100_000 * 730 * 3600 * 1.2 / 1e6  # 315,360 million a month
    average = (100_000 * 0.40 + 100_000 * 0.30 + (requests - 200_000) * 0.24) / requests
    assert large == pytest.approx(1.2 * average)


def test_tiered_prices_average_over_the_tiers() -> None:
    tiered = Price(usd=1.0, unit="", source="", tiers=[(1000, 1.0), (4000, 0.8), (None, 0.7)])
    assert tiered.for_millions(500) == pytest.approx(1.0)
    assert tiered.for_millions(6000) == pytest.approx((1000 + 3200 + 700) / 6000)


def test_the_doc_is_what_the_model_writes() -> None:
    model = Model(load_prices(), read_stacks(), load_measured())
    assert DOC.read_text() == markdown(model), "docs/cost.md is stale: run 'make cost' and commit it"


def test_the_logs_line_adds_lambda_s_own_lines_at_the_stacks_log_settings() -> None:
    with_platform = Model(PRICES, replace(STACKS, platform_log_bytes=500), MEASURED)
    parts = with_platform.per_million(DIRECT, 1000)
    assert parts["CloudWatch logs"] == pytest.approx(1e6 * 1500 / 1e9 * 0.50)  # 1,000 printed + 500 Lambda's
    stacks = read_stacks()
    # JSON at SystemLogLevel WARN: a successful invocation's START/END/REPORT records are not sent
    assert stacks.platform_log_bytes == platform_logs.bytes_per_invocation("JSON", "WARN") == 0
    assert platform_logs.bytes_per_invocation("Text", "INFO") > 200  # what plain text cost per invocation


def test_the_sql_sink_by_hand() -> None:
    # direct: two requests a reading (its tags, its values), each under 32 KB
    direct = sql_per_million(MODEL, DIRECT, 20)
    assert direct["Data API requests"] == pytest.approx(2 * 0.35)
    # 4 rows of 100 bytes a reading: 400 MB a million readings, in 4 KB pages
    assert direct["Aurora I/O"] == pytest.approx(400e6 / 4096 / 1e6 * 0.20)
    assert direct["Aurora storage, each month they are kept"] == pytest.approx(0.4 * 0.10)
    # queued, 1,000 readings a batch: 2,000 rows of 256 bytes a statement, 512,000 bytes: 16 units of 32 KB
    queued = sql_per_million(MODEL, QUEUED, 1000)
    assert queued["Data API requests"] == pytest.approx(1000 * 2 * 16 / 1e6 * 0.35)
    # the writer: 1,000 devices x 4 rows at 1,000 rows an ACU-second: 4 ACU; never under 0.5 while readings come
    assert sql_acus(MODEL, 1000) == 4 and sql_acus(MODEL, 20) == 0.5
    idle = sql_idle_per_month(MODEL)
    assert idle["Aurora Serverless v2, MinCapacity 0 (paused)"] == pytest.approx(3 * 0.40)
    assert idle["RDS for MySQL db.t4g.small, 20 GB gp3, RDS Proxy"] == pytest.approx(
        1.20 + 730 * 0.032 + 20 * 0.115 + 2 * 730 * 0.015
    )
