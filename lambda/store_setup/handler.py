"""The managed store's set-up step, a CloudFormation custom resource (handler store_setup.handler.handler).

Create and Update run the idempotent set-up (setup.py); Delete changes nothing (the data, buckets and tokens
stay: a stack delete must never lose readings). Every request is answered, SUCCESS or FAILED with what failed,
whatever happens, in time: requests to the store are bounded by the function's remaining time.
"""

from __future__ import annotations

from typing import Any

import boto3
from custom_resource import lifecycle
from custom_resource.lifecycle import LambdaContext

from store_setup import constants as c
from store_setup.influx_api import InfluxApi
from store_setup.setup import Settings, StoreSetup


def physical_id(event: dict[str, Any]) -> str:
    database = str((event.get("ResourceProperties") or {}).get(c.DATABASE) or "store")
    return lifecycle.physical_id(event, f"influx-store-setup-{database}")


def set_up(event: dict[str, Any], context: LambdaContext) -> tuple[str, dict[str, str]]:
    settings = Settings.from_properties(dict(event.get("ResourceProperties") or {}))
    api = InfluxApi(settings.url, lambda: context.get_remaining_time_in_millis() / 1000)
    outcome = StoreSetup(settings, api, boto3.client("secretsmanager")).run()
    data = {
        "OrganizationId": outcome.organization_id,
        "Bucket": c.bucket_name(settings.database, c.DEFAULT_POLICY),
    }
    return f"store set up: {outcome.summary()}", data


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    lifecycle.handle(
        event,
        context,
        "the store's set-up",
        "the store's buckets, data and tokens",
        set_up,
        physical_id(event),
    )
