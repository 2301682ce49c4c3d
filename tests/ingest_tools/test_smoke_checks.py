"""The smoke test's checks that cannot run end to end here: Grafana through CloudFront (no CloudFront locally: its
answer is played as CloudFront and Grafana document it), and the function's ReadingsWritten metric (in moto's
CloudWatch, as the function's EMF document puts it there on AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest_tools import smoke
from reach.endpoints import Endpoints
from tests.support.influx_task import aws_client


def test_grafana_healthy_through_cloudfront_passes() -> None:
    body = '{"commit": "abc", "database": "ok", "version": "11.6.1"}'  # Grafana's /api/health
    check = smoke.check_grafana("d1.cloudfront.net", get=lambda url: (200, body))
    assert (check.status, check.detail) == (
        "ok",
        "https://d1.cloudfront.net/grafana/api/health answered 200, database ok",
    )


def test_grafana_unreachable_fails_with_where_to_look() -> None:
    check = smoke.check_grafana(
        "d1.cloudfront.net", get=lambda url: (504, "<html>504 Gateway Timeout</html>")
    )
    assert check.status == "FAIL" and "504" in check.detail
    assert "CloudFront-VPCOrigins-Service-SG" in check.line() and "what to do:" in check.line()
    assert smoke.check_grafana(None).line() == "skipped grafana: no CloudFront locally"


def test_a_written_reading_is_found_in_the_function_s_metric(endpoints: Endpoints) -> None:
    cloudwatch = aws_client(endpoints, "cloudwatch")
    since = datetime.now(UTC) - timedelta(seconds=5)
    kind = f"smoke{int(since.timestamp())}"
    assert smoke.written_in_metrics(cloudwatch, kind, since) == 0
    cloudwatch.put_metric_data(
        Namespace=smoke.METRIC_NAMESPACE,
        MetricData=[
            {
                "MetricName": smoke.WRITTEN_METRIC,
                "Dimensions": [{"Name": "service", "Value": "ingest"}, {"Name": "kind", "Value": kind}],
                "Value": 1,
                "Unit": "Count",
            }
        ],
    )
    assert smoke.written_in_metrics(cloudwatch, kind, since) == 1
