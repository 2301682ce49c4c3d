"""The managed store's set-up step, a CloudFormation custom resource (handler store_setup.handler.handler).

Create and Update run the idempotent set-up (setup.py); Delete changes nothing (the data, buckets and tokens
stay: a stack delete must never lose readings). Every request is answered, SUCCESS or FAILED with what failed,
whatever happens, in time: requests to the store are bounded by the function's remaining time.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import boto3

from store_setup import constants as c
from store_setup.cfn_response import FAILED, SUCCESS, respond
from store_setup.influx_api import InfluxApi
from store_setup.setup import Settings, StoreSetup

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def physical_id(event: dict[str, Any]) -> str:
    """The same ID for the life of the resource, so an Update never replaces it."""
    existing = event.get("PhysicalResourceId")
    if existing:
        return str(existing)
    database = str((event.get("ResourceProperties") or {}).get(c.DATABASE) or "store")
    return f"influx-store-setup-{database}"


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = event.get("RequestType")
    resource = physical_id(event)
    data: dict[str, str] = {}
    try:
        if request == "Delete":
            status, reason = SUCCESS, "nothing undone: the store's buckets, data and tokens stay"
        elif request in ("Create", "Update"):
            settings = Settings.from_properties(dict(event.get("ResourceProperties") or {}))
            api = InfluxApi(settings.url, lambda: context.get_remaining_time_in_millis() / 1000)
            outcome = StoreSetup(settings, api, boto3.client("secretsmanager")).run()
            status, reason = SUCCESS, f"store set up: {outcome.summary()}"
            data = {
                "OrganizationId": outcome.organization_id,
                "Bucket": c.bucket_name(settings.database, c.DEFAULT_POLICY),
            }
        else:
            status, reason = FAILED, f"unknown RequestType {request!r}"
    except Exception as error:  # every failure must reach CloudFormation, never hang the stack
        logger.exception("the store's set-up failed")
        status, reason = FAILED, f"the store's set-up failed: {type(error).__name__}: {error}"
    logger.info("%s %s: %s", request, status, reason)
    respond(event, status, reason, resource, data)
