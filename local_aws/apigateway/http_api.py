"""Plays API Gateway's HTTP API of the webhook stack on 127.0.0.1, as the rule runner plays IoT rules.

The route, its integration and the stage's throttling come from the synthesized webhook template and the
deployed stack (`local_aws.cloudformation.template`); the function that the integration names runs in this process with its
environment pointed at the local services, one request at a time (one Lambda container), with the request
in API Gateway's payload format 2.0. What it answers is what the service gets back: `statusCode`, `headers`
and `body`. A request beyond the stage's rate gets 429 and one that raises 500, as on AWS, and an unknown
route 404. A body over an HTTP API's 10 MB, or an event over Lambda's 6 MB synchronous invocation, is refused
with 413 before the function runs (the service keeps it and may send it smaller); the function never sees it.

`python -m local_aws.apigateway.http_api` runs it as a background process of the sandbox, writing its address and
counters to `webhook-gateway.json` in the sandbox folder until SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from ingest_to_influxdb import environment
from ingest_to_influxdb.kinds import FILE_VARIABLE

from local_aws.cloudformation.template import DeployedTemplate, ResourceRef, TemplateError
from local_aws.lambda_.function import function_from_template
from local_aws.lambda_.function_zip import write_packed_kinds
from local_aws.lambda_.workers import FunctionSpec, LambdaContext, load_handler
from local_aws.limits import LAMBDA_SYNC_MAX_PAYLOAD_BYTES
from local_aws.runner import local_overrides, play_stack, stack_parser
from local_aws.serving import ThreadedServer
from local_aws.sqs.addresses import queue_url

STATS_FILE = "webhook-gateway.json"  # the gateway's address and counters, in the sandbox folder
HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # an HTTP API's payload limit ("Payload size: 10 MB", HTTP API quotas)
TOO_LARGE = (413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: FunctionSpec
    handler: Callable[[Any, Any], Any]  # run in this process, one invocation at a time
    rate: float  # requests per second (the stage's throttling)
    burst: int
    authorizer: Authorizer | None = None


@dataclass
class Authorizer:
    """The route's Lambda REQUEST authorizer (payload 2.0, simple responses), as API Gateway calls it: a request
    without the identity source is refused with 401 before any function runs; otherwise the authorizer decides,
    and its answer is cached per identity-source value for the TTL; a refusal is 403."""

    function: FunctionSpec
    handler: Callable[[Any, Any], Any]
    header: str  # the identity source's header, lower case
    ttl_seconds: float
    cache: dict[str, tuple[bool, float]] = field(default_factory=dict)
    invocations: int = 0

    def allows(self, identity: str, event: dict[str, Any]) -> bool:
        cached = self.cache.get(identity)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        self.invocations += 1
        spec = self.function
        answer = self.handler(
            {**event, "type": "REQUEST", "identitySource": [identity]},
            LambdaContext(spec.name, spec.arn, spec.memory, spec.timeout),
        )
        allowed = bool(isinstance(answer, dict) and answer.get("isAuthorized") is True)
        if self.ttl_seconds > 0:
            if len(self.cache) > 10_000:  # API Gateway's cache is bounded too
                self.cache.clear()
            self.cache[identity] = (allowed, time.monotonic() + self.ttl_seconds)
        return allowed


UNAUTHORIZED = (401, {"content-type": "application/json"}, b'{"message":"Unauthorized"}')
FORBIDDEN = (403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
_FUNCTION_ARN = re.compile(r"\$\{(\w+)\.Arn\}")


class TokenBucket:
    """API Gateway's throttling: `burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.updated = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


def load_authorizer(
    deployed: DeployedTemplate, route: dict[str, Any], overrides: dict[str, str]
) -> Authorizer | None:
    """The route's authorizer (`AuthorizationType: CUSTOM`), its Lambda function run in this process too."""
    if route.get("AuthorizationType", "NONE") == "NONE":
        return None
    reference = deployed.resolve(route.get("AuthorizerId"))
    if not isinstance(reference, ResourceRef) or reference.logical_id not in deployed.resources:
        raise TemplateError("the route's authorizer must be an AWS::ApiGatewayV2::Authorizer of the template")
    raw = deployed.resources[reference.logical_id]["Properties"]
    props = deployed.resolve({k: v for k, v in raw.items() if k != "AuthorizerUri"})
    sources = props.get("IdentitySource", [])
    if (
        props.get("AuthorizerType") != "REQUEST"
        or props.get("AuthorizerPayloadFormatVersion") != "2.0"
        or props.get("EnableSimpleResponses") is not True
        or len(sources) != 1
        or not str(sources[0]).startswith("$request.header.")
    ):
        raise TemplateError(
            "only a REQUEST authorizer of payload 2.0, simple responses, one header is played"
        )
    uri = raw["AuthorizerUri"]
    found = _FUNCTION_ARN.search(uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri))
    if found is None or found[1] not in deployed.resources:
        raise TemplateError("the authorizer's URI must name a function of the template")
    spec = function_from_template(deployed, found[1], overrides, lambda ref: str(ref)).spec
    os.environ.update(spec.environment)
    return Authorizer(
        function=spec,
        handler=load_handler(spec.handler_path),
        header=str(sources[0]).removeprefix("$request.header.").lower(),
        ttl_seconds=float(props.get("AuthorizerResultTtlInSeconds", 300)),
    )


def load_route(deployed: DeployedTemplate, overrides: dict[str, str]) -> Route:
    """The template's one route, its Lambda integration's function, and the default stage's throttling."""
    routes = deployed.of_type("AWS::ApiGatewayV2::Route")
    if len(routes) != 1:
        raise TemplateError(f"the webhook template must have one route, not {len(routes)}")
    raw = next(iter(routes.values()))["Properties"]
    method, path = str(deployed.resolve(raw["RouteKey"])).split(" ", 1)
    # Target is "integrations/<integration id>": read the logical id from the template, not moto's ids.
    target_text = raw["Target"].get("Fn::Sub", "") if isinstance(raw["Target"], dict) else str(raw["Target"])
    integration_id = str(target_text).removeprefix("integrations/").strip("${}")
    if integration_id not in deployed.resources:
        raise TemplateError(f"the route's target {target_text!r} is not an integration of the template")
    integration = deployed.resolve(deployed.resources[integration_id]["Properties"])
    target = integration["IntegrationUri"]
    if integration.get("IntegrationType") != "AWS_PROXY" or not isinstance(target, ResourceRef):
        raise TemplateError("the route's integration must be a Lambda proxy of the template's function")
    if integration.get("PayloadFormatVersion") != "2.0":
        raise TemplateError("only payload format 2.0 is played locally")
    stage: dict[str, Any] = next(
        iter(deployed.of_type("AWS::ApiGatewayV2::Stage").values()), {"Properties": {}}
    )
    settings = deployed.resolve(stage["Properties"]).get("DefaultRouteSettings", {})
    spec = function_from_template(
        deployed, target.logical_id, overrides, lambda ref: queue_url(deployed, ref, boto3.client("sqs"))
    ).spec
    os.environ.update(spec.environment)  # this process is the function's one execution environment
    return Route(
        method=method,
        path=path,
        function=spec,
        handler=load_handler(spec.handler_path),
        authorizer=load_authorizer(deployed, raw, overrides),
        rate=float(settings.get("ThrottlingRateLimit", 10000)),
        burst=int(settings.get("ThrottlingBurstLimit", 5000)),
    )


def http_api_event(
    route_key: str,
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """A request as an HTTP API hands it to a Lambda proxy integration (payload format 2.0)."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    path, _, query = raw_path.partition("?")
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", headers.get("User-Agent", "")),
            },
            "requestId": f"local-{time.monotonic_ns()}",
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


@dataclass
class Stats:
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "statuses": dict(self.statuses)}


class WebhookGateway(ThreadedServer):
    def __init__(self, route: Route, port: int = 0) -> None:
        self.route, self.stats = route, Stats()
        self.bucket = TokenBucket(route.rate, route.burst)
        self._container = threading.Lock()  # one invocation at a time, as one Lambda container
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the access log is the stats file
                pass

            def do_PUT(self) -> None:
                gateway.serve(self)

            def do_GET(self) -> None:
                gateway.serve(self)

            def do_POST(self) -> None:
                gateway.serve(self)

        super().__init__(ThreadingHTTPServer((HOST, port), Handler), "webhook-gateway")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}{self.route.path}"

    def event(self, request: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        return http_api_event(
            f"{self.route.method} {self.route.path}",
            request.command,
            request.path,
            dict(request.headers.items()),
            body,
            source_ip=request.client_address[0],
            protocol=request.request_version,
        )

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if (request.command, request.path.split("?", 1)[0]) != (self.route.method, self.route.path):
            return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            _discard(request, length)
            return TOO_LARGE
        body = request.rfile.read(length) if length else b""
        if not self.bucket.take():
            return 429, {"content-type": "application/json"}, b'{"message":"Too Many Requests"}'
        event = self.event(request, body)
        authorizer = self.route.authorizer
        if authorizer is not None:
            identity = event["headers"].get(authorizer.header)
            if not identity:
                return UNAUTHORIZED  # API Gateway's own answer: no function runs
            try:
                with self._container:
                    if not authorizer.allows(identity, event):
                        return FORBIDDEN
            except Exception:
                return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        if len(json.dumps(event)) > LAMBDA_SYNC_MAX_PAYLOAD_BYTES:  # the body is a string: flat, any depth
            return TOO_LARGE
        try:
            with self._container:
                spec = self.route.function
                context = LambdaContext(spec.name, spec.arn, spec.memory, spec.timeout)
                response = self.route.handler(event, context)
        except Exception:
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        payload = response.get("body", "") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        return int(response.get("statusCode", 200)), dict(response.get("headers") or {}), data

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        status, headers, data = self.answer(request)
        self.stats.count(status)
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _discard(request: BaseHTTPRequestHandler, length: int) -> None:
    """Read a refused body without keeping it, so the client reads the answer rather than a broken pipe; one far
    over the limit is not read, and its connection closes after the answer."""
    if length > 4 * MAX_BODY_BYTES:
        request.close_connection = True
        return
    while length > 0:
        chunk = request.rfile.read(min(length, 1 << 16))
        if not chunk:
            break
        length -= len(chunk)


def create_callback_secret(name: str) -> str:
    """The callback's secret in moto (its CloudFormation skips secrets), generated like the stack's: its ARN."""
    client = boto3.client("secretsmanager")
    try:
        return str(client.describe_secret(SecretId=name)["ARN"])
    except client.exceptions.ResourceNotFoundException:
        value = client.get_random_password(PasswordLength=48, ExcludePunctuation=True)["RandomPassword"]
        return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def write_stats(path: Path, gateway: WebhookGateway) -> None:
    tmp = path.with_suffix(".tmp")
    authorizer = gateway.route.authorizer
    invocations = {"authorizer_invocations": authorizer.invocations} if authorizer else {}
    tmp.write_text(json.dumps({"url": gateway.url, **gateway.stats.snapshot(), **invocations}) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = stack_parser("python -m local_aws.apigateway.http_api", __doc__, "webhook")
    parser.add_argument("--callback-secret", required=True, help="the callback secret's name")
    args = parser.parse_args(argv)
    endpoints, deployed = play_stack(args)
    overrides = {
        **local_overrides(endpoints, args.writer_secret),
        environment.WEBHOOK_SECRET_ARN: create_callback_secret(args.callback_secret),
    }
    try:
        # The kinds packed in the function's zip, as the ingest function reads them in Lambda.
        overrides[FILE_VARIABLE] = str(write_packed_kinds(deployed, args.root, "webhook_device_kinds.json"))
        route = load_route(deployed, overrides)
    except TemplateError as error:
        print(f"webhook gateway: cannot play the API: {error}", file=sys.stderr, flush=True)
        return 2
    gateway = WebhookGateway(route).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stats = args.root / STATS_FILE
    print(f"webhook gateway: {route.method} {gateway.url} -> {route.function.name}", flush=True)
    while not stop.wait(0.2):
        write_stats(stats, gateway)
    gateway.stop()
    write_stats(stats, gateway)
    print(f"webhook gateway stopped: {gateway.stats.snapshot()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
