"""The rule runner: AWS IoT Core's rules engine and Lambda's invocation of the ingest function, on this machine.

It puts the local services' parts together, each from the synthesized ingest template and the deployed stack:

- the rules engine (`local_aws.iot.rules_engine`): each message from the broker's session
  (`local_aws.iot.mqtt_session`) through its rule's SQL, handed durably to the rule's action, then acknowledged;
- Lambda's asynchronous invocation (`local_aws.lambda_.async_invoke`) of the events the Lambda action stored on
  disk (`local_aws.lambda_.event_store`): retries, then the on-failure destination;
- Lambda's event-source mapping of the ingest queue (`local_aws.lambda_.sqs_mapping`), which the runner plays on
  disk (`local_aws.sqs.queues`) with SQS's semantics and the deployed queue's attributes;
- Lambda's event-source mapping of the ingest stream (`local_aws.lambda_.kinesis_mapping`), the stream played on
  disk (`local_aws.kinesis.streams`) with Kinesis's shards, sequence numbers and checkpoints;
- the functions' execution environments (`local_aws.lambda_.workers`), as many as each function's reserved
  concurrency allows locally.

No single message stops a path: what crosses to an execution environment is the event's JSON text, and whatever
fails for one event is that event's outcome. A message is acknowledged only once something that survives a crash
of the runner holds it. Every thread is supervised (`local_aws.lambda_.supervision`): services' errors are
retried, and a thread that dies stops the runner loudly instead of leaving it up and silent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from local_aws.cloudformation.template import DeployedTemplate, ResourceRef, TemplateError
from local_aws.counters import Counters
from local_aws.iot.mqtt_session import BrokerMessage
from local_aws.iot.rules_engine import HAND_OFF_WORKERS, Rule, RulesEngine, rules_from_template
from local_aws.kinesis.streams import LocalStreams
from local_aws.lambda_.async_invoke import AsyncInvoker
from local_aws.lambda_.event_store import EventStore
from local_aws.lambda_.function import LocalFunction, function_from_template
from local_aws.lambda_.kinesis_mapping import LOCAL_MAX_POLLERS as LOCAL_STREAM_POLLERS
from local_aws.lambda_.kinesis_mapping import StreamMapping, StreamPoller
from local_aws.lambda_.kinesis_mapping import mappings_from_template as stream_mappings_from_template
from local_aws.lambda_.sqs_mapping import (
    LOCAL_MAX_POLLERS,
    QueueMapping,
    QueuePoller,
    mappings_from_template,
    queue_policy,
)
from local_aws.lambda_.supervision import Supervisor
from local_aws.lambda_.workers import ContainerPool
from local_aws.sqs.addresses import queue_url
from local_aws.sqs.queues import LocalQueues

# Lambda runs up to the reserved concurrency at once; this machine has few cores, so locally at most:
LOCAL_MAX_CONCURRENCY = 4
# Connection errors are the runner's to retry (with backoff, visibly), not botocore's to hide for a minute.
SQS_CLIENT_CONFIG = BotoConfig(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=20,
    max_pool_connections=HAND_OFF_WORKERS + LOCAL_MAX_POLLERS + LOCAL_MAX_CONCURRENCY,
)  # fmt: skip


@dataclass(frozen=True)
class Loaded:
    rules: list[Rule]
    mappings: list[QueueMapping]
    stream_mappings: list[StreamMapping] = field(default_factory=list)


def load_rules(
    deployed: DeployedTemplate, overrides: dict[str, str], sqs: Any | None = None
) -> tuple[list[Rule], list[QueueMapping]]:
    """The template's rules and queue mappings (see `load`)."""
    loaded = load(deployed, overrides, sqs)
    if loaded.stream_mappings:
        raise TemplateError("the template maps a stream: load it with local_aws.rule_runner.load")
    return loaded.rules, loaded.mappings


def load(deployed: DeployedTemplate, overrides: dict[str, str], sqs: Any | None = None) -> Loaded:
    """The template's rules and event-source mappings, each function built once with its local environment."""
    functions: dict[str, LocalFunction] = {}
    clients: list[Any] = [sqs] if sqs is not None else []

    def url(reference: Any) -> str:
        if isinstance(reference, str) and reference.startswith("arn:aws:sqs:") and not clients:
            clients.append(boto3.client("sqs"))  # made only when a queue is named by its ARN
        return queue_url(deployed, reference, clients[0] if clients else None)

    def function(reference: Any) -> LocalFunction:
        if not isinstance(reference, ResourceRef):
            raise TemplateError(f"a Lambda action must name the template's function, not {reference!r}")
        if reference.logical_id not in functions:
            functions[reference.logical_id] = function_from_template(
                deployed, reference.logical_id, overrides, url
            )
        return functions[reference.logical_id]

    return Loaded(
        rules_from_template(deployed, function, url),
        mappings_from_template(deployed, function, url),
        stream_mappings_from_template(deployed, function),
    )


class RuleRunner:
    """The rules engine, the invokers and the pollers, with the pools and clients they share; each of their
    threads supervised."""

    def __init__(
        self,
        rules: list[Rule],
        mappings: list[QueueMapping],
        region: str,
        store: EventStore | None,
        queues: LocalQueues | None = None,
        sqs: Any | None = None,
        streams: LocalStreams | None = None,
        stream_mappings: list[StreamMapping] | None = None,
        s3: Any | None = None,
    ) -> None:
        self.rules, self.mappings, self.region, self.store, self.queues = (
            rules,
            mappings,
            region,
            store,
            queues,
        )
        self.streams, self.stream_mappings = streams, stream_mappings or []
        self._s3 = s3
        self.counters = Counters()
        self.sqs = sqs or boto3.client("sqs", region_name=region, config=SQS_CLIENT_CONFIG)
        self.supervisor = Supervisor()
        self._stopping = threading.Event()
        found = (
            [r.function for r in rules if r.function]
            + [m.function for m in mappings]
            + [m.function for m in self.stream_mappings]
        )
        self._functions = {f.name: f for f in found}
        self._pools = {
            name: ContainerPool(f.spec, min(f.reserved_concurrency, LOCAL_MAX_CONCURRENCY))
            for name, f in self._functions.items()
        }
        self.invoker = (
            AsyncInvoker(store, self._functions, self._pools, self.sqs, self.counters, self._stopping)
            if store is not None
            else None
        )
        self.engine = RulesEngine(
            rules, store, queues, self._played, self.sqs, self.counters, self._stopping,
            event_stored=self.invoker.event_stored.set if self.invoker else lambda: None, streams=streams,
        )  # fmt: skip

    @property
    def topic_filters(self) -> list[str]:
        return self.engine.topic_filters

    def on_delivery(self, delivery: BrokerMessage) -> None:
        self.engine.on_delivery(delivery)

    def start(self) -> None:
        direct = any(rule.function for rule in self.rules)
        if direct and self.invoker is None:
            raise RuntimeError("a rule invokes a function directly: the runner needs an event store")
        if self.mappings and self.queues is None:
            raise RuntimeError("an event source mapping reads a queue: the runner needs a queue store")
        for mapping in self.mappings:
            assert self.queues is not None
            self.queues.declare(queue_policy(self.sqs, mapping))
        if self.stream_mappings and self.streams is None:
            raise RuntimeError("an event source mapping reads a stream: the runner needs a stream store")
        for stream_mapping in self.stream_mappings:
            assert self.streams is not None
            self.streams.declare(stream_mapping.shape)
        for pool in self._pools.values():
            pool.warm()
        for i in range(HAND_OFF_WORKERS):
            self.supervisor.start(f"hand-off-{i}", self.engine.hand_off_loop)
        if direct:
            assert self.invoker is not None
            for name, pool in self._pools.items():
                for i in range(pool.size):
                    self.supervisor.start(f"invoke-{name}-{i}", self.invoker.loop)
        for mapping in self.mappings:
            assert self.queues is not None
            poller = QueuePoller(
                mapping, self.queues, self._pools[mapping.function.name], self.sqs, self.region,
                self.counters, self._stopping,
            )  # fmt: skip
            for i in range(min(mapping.function.reserved_concurrency, LOCAL_MAX_POLLERS)):
                self.supervisor.start(f"poll-{mapping.function.name}-{i}", poller.loop)

        self._start_stream_pollers()

    def _start_stream_pollers(self) -> None:
        for mapping in self.stream_mappings:
            assert self.streams is not None
            if self._s3 is None:
                self._s3 = boto3.client("s3", region_name=self.region, config=SQS_CLIENT_CONFIG)
            pollers = min(mapping.shape.lanes, LOCAL_STREAM_POLLERS, self._pools[mapping.function.name].size)
            poller = StreamPoller(
                mapping, self.streams, self._pools[mapping.function.name], self._s3, self.region,
                self.counters, self._stopping, max(1, pollers),
            )  # fmt: skip
            for i in range(max(1, pollers)):
                self.supervisor.start(f"stream-{mapping.function.name}-{i}", poller.loop(i))

    def stop(self) -> None:
        """Stop taking work; what was not acknowledged stays with the broker, what was stored stays stored."""
        self._stopping.set()
        self.supervisor.join(timeout=30)
        for pool in self._pools.values():
            pool.close()

    def _played(self, url: str) -> bool:
        return self.queues is not None and any(m.queue_url == url for m in self.mappings)

    def backlog(self) -> dict[str, int]:
        """What the runner holds and has not finished: taken off the broker but not acknowledged yet
        (`unacknowledged`), events stored for the function (`stored_events`), and messages in the queues it
        plays (`queued_messages`: the ingest queue; the accounting reads that from the store itself)."""
        stored = self.store.depth() if self.store else 0
        queued = sum(self.queues.depth(m.queue_url) for m in self.mappings) if self.queues else 0
        streamed = (
            sum(self.streams.pending(m.stream_arn) for m in self.stream_mappings) if self.streams else 0
        )
        return {
            "unacknowledged": self.counters.snapshot()["in_flight"],
            "stored_events": stored,
            "queued_messages": queued,
            "stream_records": streamed,
        }

    def idle(self) -> bool:
        return not any(self.backlog().values())


def write_stats(path: Path, runner: RuleRunner) -> None:
    stats = {
        **runner.counters.snapshot(),
        **runner.backlog(),
        "idle": runner.idle(),
        "workers": runner.supervisor.report(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stats) + "\n")
    tmp.replace(path)
