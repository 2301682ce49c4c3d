"""Device metadata from DynamoDB by `metakey`, cached per container for a TTL; misses are cached too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from ingest_to_influxdb.constants import DYNAMODB_MAX_BATCH_GET_KEYS, METAKEY
from ingest_to_influxdb.errors import MetadataUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, object]
MAX_CACHED_KEYS = 50_000
UNPROCESSED_RETRY_DELAYS = (0.05, 0.2, 0.5)
_deserialize = TypeDeserializer().deserialize


class MetadataStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.table, self.ttl = client, table, ttl_seconds
        self.clock, self.sleep = clock, sleep
        self._cache: dict[str, tuple[float, Item | None]] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Collection[str]) -> dict[str, Item | None]:
        """Each key's item or None; raises MetadataUnavailable when the table cannot be read."""
        now = self.clock()
        found: dict[str, Item | None] = {}
        with self._lock:
            for key in keys:
                cached = self._cache.get(key)
                if cached is not None and cached[0] > now:
                    found[key] = cached[1]
        missing = [key for key in keys if key not in found]
        if missing:
            fetched = self._fetch(missing)
            expires = self.clock() + self.ttl
            with self._lock:
                if len(self._cache) + len(fetched) > MAX_CACHED_KEYS:
                    self._cache.clear()
                for key, item in fetched.items():
                    self._cache[key] = (expires, item)
            found.update(fetched)
        return found

    def _fetch(self, keys: list[str]) -> dict[str, Item | None]:
        try:
            if len(keys) == 1:
                response = self.client.get_item(TableName=self.table, Key={METAKEY: {"S": keys[0]}})
                raw = response.get("Item")
                return {keys[0]: _item(raw) if raw else None}
            found: dict[str, Item | None] = dict.fromkeys(keys)
            for start in range(0, len(keys), DYNAMODB_MAX_BATCH_GET_KEYS):
                chunk = keys[start : start + DYNAMODB_MAX_BATCH_GET_KEYS]
                for raw in self._batch_get(chunk):
                    item = _item(raw)
                    found[str(item[METAKEY])] = item
            return found
        except (ClientError, BotoCoreError) as error:
            raise MetadataUnavailable(f"cannot read the metadata table {self.table}: {error}") from None

    def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": [{METAKEY: {"S": k}} for k in keys]}}
        for delay in (*UNPROCESSED_RETRY_DELAYS, None):
            response = self.client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self.table, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return items
            if delay is None:
                break
            self.sleep(delay)
        raise MetadataUnavailable(
            f"the metadata table {self.table} left keys unprocessed (throttled); try again later"
        )


def _item(raw: dict[str, Any]) -> Item:
    return {name: _deserialize(value) for name, value in raw.items()}
