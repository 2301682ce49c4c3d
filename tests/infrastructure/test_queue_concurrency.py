"""The queued path's event-source concurrency (QueueMaximumConcurrency), which the capacity model sets: absent by
default, the event source mapping's ScalingConfig.MaximumConcurrency when given (moto's server plays the API)."""

from __future__ import annotations

from typing import Any

import boto3

from infrastructure.cli import main
from infrastructure.stacks.ingest import (
    HAS_QUEUE_MAXIMUM_CONCURRENCY,
    INGEST_PATH_PARAMETER,
    QUEUE_MAXIMUM_CONCURRENCY_PARAMETER,
)
from reach.endpoints import Endpoints


def test_the_parameter_is_off_by_default_and_bounded_as_lambda_bounds_it(templates: dict[str, Any]) -> None:
    template = templates["ingest"]
    parameter = template["Parameters"][QUEUE_MAXIMUM_CONCURRENCY_PARAMETER]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (0, 0, 1000)
    mapping = template["Resources"]["IngestQueueMapping"]["Properties"]
    condition, given, absent = mapping["ScalingConfig"]["Fn::If"]
    assert condition == HAS_QUEUE_MAXIMUM_CONCURRENCY
    assert given == {"MaximumConcurrency": {"Ref": QUEUE_MAXIMUM_CONCURRENCY_PARAMETER}}
    assert absent == {"Ref": "AWS::NoValue"}


def test_a_deploy_sets_the_mapping_s_maximum_concurrency(
    endpoints: Endpoints, aws_env: dict[str, str], moto_reset: None
) -> None:
    endpoint = endpoints.aws.endpoint_url
    params = [f"--param={INGEST_PATH_PARAMETER}=queued", f"--param={QUEUE_MAXIMUM_CONCURRENCY_PARAMETER}=4"]
    assert main(["deploy", "--all", "--yes", "--endpoint-url", endpoint, *params]) == 0
    mappings = boto3.client("lambda", endpoint_url=endpoint).list_event_source_mappings()[
        "EventSourceMappings"
    ]
    assert [int(m["ScalingConfig"]["MaximumConcurrency"]) for m in mappings] == [4]
