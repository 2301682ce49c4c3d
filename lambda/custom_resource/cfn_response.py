"""The answer to CloudFormation: a PUT of the result to the request's pre-signed ResponseURL
(docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html). Tried a few times: an answer
that never arrives leaves the stack waiting for an hour."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError

SUCCESS, FAILED = "SUCCESS", "FAILED"
MAX_REASON = 1_000  # CloudFormation shows the reason in the stack's events; keep it readable
ATTEMPTS = 3
logger = logging.getLogger(__name__)


def respond(
    event: Mapping[str, Any],
    status: str,
    reason: str,
    physical_id: str,
    data: Mapping[str, str] | None = None,
    pool: urllib3.PoolManager | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True when CloudFormation took the answer."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON],
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": dict(data or {}),
        }
    ).encode()
    pool = pool or urllib3.PoolManager(retries=False)
    url = str(event.get("ResponseURL", ""))
    for attempt in range(ATTEMPTS):
        try:
            # The URL is pre-signed for an empty content type.
            response = pool.request(
                "PUT",
                url,
                body=body,
                headers={"Content-Type": "", "Content-Length": str(len(body))},
                timeout=urllib3.Timeout(connect=5.0, read=10.0),
                retries=False,
            )
        except (HTTPError, ValueError) as error:
            logger.warning("answering CloudFormation failed (attempt %d): %s", attempt + 1, error)
        else:
            if response.status // 100 == 2:
                return True
            logger.warning(
                "CloudFormation's response URL answered %d (attempt %d)", response.status, attempt + 1
            )
        sleep(2.0 * (attempt + 1))
    logger.error("CloudFormation was not answered: the stack waits for its timeout")
    return False
