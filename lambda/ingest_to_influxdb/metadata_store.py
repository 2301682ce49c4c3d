"""Device metadata from DynamoDB by `metakey`, cached per container with a TTL (misses too)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.errors import TransientError

BATCH_GET_LIMIT = 100
_deserialize = TypeDeserializer().deserialize

Item = dict[str, Any]


class MetadataStore:
    def __init__(
        self,
        client: Any,
        table: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = 4,
    ) -> None:
        self.client, self.table, self.ttl, self.clock = client, table, ttl_seconds, clock
        self.max_attempts = max_attempts
        self._cache: dict[str, tuple[float, Item | None]] = {}

    def get_many(self, metakeys: Iterable[str]) -> dict[str, Item | None]:
        """Each key's item, or None for a key with no item. Raises TransientError when DynamoDB fails."""
        now = self.clock()
        result: dict[str, Item | None] = {}
        missing = []
        for key in dict.fromkeys(metakeys):
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                result[key] = cached[1]
            else:
                missing.append(key)
        for start in range(0, len(missing), BATCH_GET_LIMIT):
            fetched = self._batch_get(missing[start : start + BATCH_GET_LIMIT])
            for key in missing[start : start + BATCH_GET_LIMIT]:
                item = fetched.get(key)
                self._cache[key] = (now + self.ttl, item)
                result[key] = item
        return result

    def _batch_get(self, keys: list[str]) -> dict[str, Item]:
        found: dict[str, Item] = {}
        request: dict[str, Any] = {self.table: {"Keys": [{"metakey": {"S": k}} for k in keys]}}
        for attempt in range(self.max_attempts):
            try:
                response = self.client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as error:
                if attempt + 1 == self.max_attempts:
                    raise TransientError(f"DynamoDB BatchGetItem on {self.table} failed: {error}") from error
                time.sleep(0.1 * 2**attempt)
                continue
            for raw in response.get("Responses", {}).get(self.table, []):
                item = {name: _deserialize(value) for name, value in raw.items()}
                found[str(item["metakey"])] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)  # throttled: back off before asking for the rest
        raise TransientError(
            f"DynamoDB left keys of {self.table} unprocessed after {self.max_attempts} attempts"
        )
