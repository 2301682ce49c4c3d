"""A STAND-IN for an InfluxDB v2 / v3 server (Amazon Timestream for InfluxDB), for tests only.

No InfluxDB 2.x or 3.x server can be installed on these machines (the sandbox runs the real influxd 1.8), so the
token path, the set-up step and the answers only the managed store gives are proven against this small HTTP
server. It answers with the status codes and error bodies InfluxData's API references document (the sources
are cited in tests/ingest_to_influxdb/test_writer_v2_v3.py and tests/store_setup/test_store_setup.py); it keeps
its state in memory and runs no query language: tasks are stored, never run.

What it serves (on 127.0.0.1, a free port, in a thread of the test process):
- POST /api/v2/signin (Basic auth of the admin) -> 204 and the session cookie `influxdb-oss-session`;
- /api/v2/orgs, /api/v2/buckets, /api/v2/dbrps, /api/v2/authorizations, /api/v2/tasks: list (with the
  documented filters), create, update, delete, with an admin session or an operator token;
- POST /write?db=&rp= (1.x compatible, through a DBRP mapping: explicit, or virtual from a bucket named
  `db` or `db/rp`) and POST /api/v2/write?org=&bucket=, with `Authorization: Token` (or Bearer) or a v1
  username/password: 204 when every line is taken; 401 {"code":"unauthorized","message":"unauthorized access"};
  404 without a mapping; 413 above `max_request_bytes` (v3's `max-http-request-size`, 10 MiB by default);
  a line that does not parse or conflicts with a field's type: in `flavour="v2"` 400 {"code":"invalid",
  "message":"unable to parse ..."} (nothing written) for a parse error and 422 {"code":"unprocessable entity",
  "message":"failure writing points to database: partial write: ... dropped=N"} (the others written) for a type
  conflict; in `flavour="v3"` 400 {"error":"partial write of line protocol occurred","data":[{"original_line",
  "line_number","error_message"}]} (the others written);
- answers queued with `fail_writes` (429 or 503 with Retry-After, 500) before any of the above.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from local_aws.serving import serving_thread

Flavour = Literal["v2", "v3"]
SESSION_COOKIE = "influxdb-oss-session"
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024  # v3 / Timestream `max-http-request-size` default
UNAUTHORIZED = {"code": "unauthorized", "message": "unauthorized access"}
_TASK_NAME = re.compile(r'option\s+task\s*=\s*\{[^}]*\bname\s*:\s*"([^"]+)"')
_TASK_EVERY = re.compile(r"option\s+task\s*=\s*\{[^}]*\bevery\s*:\s*([0-9a-z]+)")


class LineError(ValueError):
    """A line the store cannot take, with its reason in the store's words."""


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _new_id() -> str:
    return secrets.token_hex(8)  # InfluxDB's IDs are 16 hex digits


def _split(text: str, separator: str, limit: int = -1) -> list[str]:
    """Splits at `separator` outside double quotes and not escaped by a backslash."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted and (limit < 0 or len(parts) < limit):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def field_type(value: str) -> str:
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return "string"
    if value in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    if value.endswith("i") and re.fullmatch(r"-?\d+", value[:-1]):
        return "integer"
    if value.endswith("u") and re.fullmatch(r"\d+", value[:-1]):
        return "unsigned"
    try:
        float(value)
    except ValueError:
        raise LineError(f"invalid field value {value!r}") from None
    return "float"


@dataclass(frozen=True)
class Line:
    series: str  # measurement and tags as written
    measurement: str
    fields: dict[str, str]  # name -> type
    timestamp: str


def parse_line(line: str) -> Line:
    """A line of line protocol, with each field's type; raises LineError."""
    sections = _split(line, " ", 2)
    if len(sections) < 2 or not sections[1]:
        raise LineError("missing fields")
    head = _split(sections[0], ",")
    measurement = head[0]
    if not measurement:
        raise LineError("missing measurement")
    for tag in head[1:]:
        key, _, value = tag.partition("=")
        if not key or not value:
            raise LineError(f"missing tag value in {tag!r}")
    fields = {}
    for pair in _split(sections[1], ","):
        key, equals, value = pair.partition("=")
        if not key or not equals or not value:
            raise LineError(f"invalid field format {pair!r}")
        fields[key] = field_type(value)
    if len(sections) == 3 and sections[2] and not re.fullmatch(r"-?\d+", sections[2]):
        raise LineError(f"bad timestamp {sections[2]!r}")
    return Line(sections[0], measurement, fields, sections[2] if len(sections) == 3 else "")


class InfluxStandIn:
    """The server and its state. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        flavour: Flavour = "v2",
        admin: tuple[str, str] = ("admin", "admin-password"),
        organization: str = "iot",
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        token_hashing: bool = True,
    ) -> None:
        self.flavour, self.admin, self.max_request_bytes = flavour, admin, max_request_bytes
        self.token_hashing = token_hashing  # InfluxDB OSS 2.9: a listed or read token shows no value
        self.lock = threading.RLock()
        self.orgs: dict[str, dict[str, Any]] = {}
        self.buckets: dict[str, dict[str, Any]] = {}
        self.dbrps: dict[str, dict[str, Any]] = {}
        self.authorizations: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.v1_users: dict[
            str, tuple[str, str]
        ] = {}  # v1-compatible username -> (password, authorization id)
        self.sessions: set[str] = set()
        # Every point taken: a point of the same series and time overwrites the one before, as InfluxDB does.
        self.points: dict[tuple[str, str, str], str] = {}  # (bucket id, series, time) -> line
        self.field_types: dict[tuple[str, str, str], str] = {}
        self.write_requests: list[int] = []  # the body size of every write request that reached the store
        self.changes: list[str] = []  # "METHOD path" of every change made by the management API
        self.faults: deque[Reply] = deque()
        self.broken: dict[str, int] = {}  # management path prefix -> status it answers (a failing store)
        self.org_id = self._add_org(organization)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InfluxStandIn:
        standin = self

        class Handler(_Handler):
            server_state = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = serving_thread(self._server, "influx-standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> InfluxStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up helpers for tests ----------------------------------------------------------------------
    def _add_org(self, name: str) -> str:
        org_id = _new_id()
        self.orgs[org_id] = {"id": org_id, "name": name}
        return org_id

    def add_bucket(self, name: str, retention_seconds: int = 0) -> str:
        with self.lock:
            return str(self._create_bucket(self.org_id, name, retention_seconds)["id"])

    def add_token(self, permissions: list[dict[str, Any]], description: str = "test") -> tuple[str, str]:
        """(authorization id, token) of a new active authorization in the organization."""
        with self.lock:
            auth = self._create_authorization(self.org_id, description, permissions)
            return auth["id"], auth["token"]

    def add_operator_token(self) -> str:
        """An operator token (full access), as `influx setup` makes."""
        with self.lock:
            auth = self._create_authorization(
                self.org_id, "operator", [{"action": "write", "resource": {"type": "orgs"}}]
            )
            auth["operator"] = True
            return str(auth["token"])

    def write_token(self, bucket_id: str) -> str:
        return self.add_token([{"action": "write", "resource": {"type": "buckets", "id": bucket_id}}])[1]

    def add_v1_user(self, username: str, password: str, bucket_id: str) -> None:
        """A v1-compatible authorization (`influx v1 auth create`): username/password for /write."""
        auth_id, _ = self.add_token([{"action": "write", "resource": {"type": "buckets", "id": bucket_id}}])
        self.v1_users[username] = (password, auth_id)

    def set_status(self, authorization_id: str, status: str) -> None:
        with self.lock:
            self.authorizations[authorization_id]["status"] = status

    def fail_writes(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` write requests get `status` (429 or 503 with Retry-After, 500, ...)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body: dict[str, str] = {"code": "too many requests" if status == 429 else "unavailable"}
        body["message"] = "the server is temporarily unable to accept writes"
        for _ in range(times):
            self.faults.append(Reply(status, body, headers))

    def lines_in(self, bucket_id: str) -> list[str]:
        with self.lock:
            return [line for (bucket, _, _), line in self.points.items() if bucket == bucket_id]

    def bucket_named(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((b for b in self.buckets.values() if b["name"] == name), None)

    def authorization_for(self, token: str) -> dict[str, Any] | None:
        with self.lock:
            return next((a for a in self.authorizations.values() if a["token"] == token), None)

    # -- the store's own logic -------------------------------------------------------------------------
    def _create_bucket(self, org_id: str, name: str, retention_seconds: int) -> dict[str, Any]:
        bucket_id = _new_id()
        rules = [{"type": "expire", "everySeconds": retention_seconds}] if retention_seconds else []
        bucket = {"id": bucket_id, "orgID": org_id, "name": name, "type": "user", "retentionRules": rules}
        self.buckets[bucket_id] = bucket
        return bucket

    def _create_authorization(
        self, org_id: str, description: str, permissions: list[dict[str, Any]], status: str = "active"
    ) -> dict[str, Any]:
        auth_id = _new_id()
        auth = {
            "id": auth_id,
            "orgID": org_id,
            "description": description,
            "status": status,
            "permissions": permissions,
            "token": secrets.token_urlsafe(48),
        }
        self.authorizations[auth_id] = auth
        return auth

    def shown(self, auth: dict[str, Any]) -> dict[str, Any]:
        """An authorization as GET shows it: with token hashing on, without its token."""
        return {k: v for k, v in auth.items() if not (k == "token" and self.token_hashing)}

    def mappings(self, org_id: str) -> list[dict[str, Any]]:
        """Explicit DBRP mappings, then the virtual ones of buckets without one (read-only)."""
        explicit = [m for m in self.dbrps.values() if m["orgID"] == org_id]
        mapped = {m["bucketID"] for m in explicit}
        virtual = []
        for bucket in self.buckets.values():
            if bucket["orgID"] != org_id or bucket["id"] in mapped:
                continue
            database, _, policy = bucket["name"].partition("/")
            virtual.append(
                {
                    "id": bucket["id"],
                    "orgID": org_id,
                    "bucketID": bucket["id"],
                    "database": database,
                    "retention_policy": policy or "autogen",
                    "default": not policy,
                    "virtual": True,
                }
            )
        return explicit + virtual

    def bucket_for(self, database: str, policy: str) -> str | None:
        for mapping in self.mappings(self.org_id):
            if mapping["database"] != database:
                continue
            if (policy and mapping["retention_policy"] == policy) or (not policy and mapping["default"]):
                return str(mapping["bucketID"])
        return None

    def may_write(self, auth: dict[str, Any] | None, bucket_id: str) -> bool:
        if auth is None or auth["status"] != "active":
            return False
        for permission in auth["permissions"]:
            resource = permission["resource"]
            if (permission["action"], resource.get("type")) == ("write", "buckets") and resource.get(
                "id"
            ) in (
                None,
                bucket_id,
            ):
                return True
        return False

    def take(self, bucket_id: str, lines: list[str]) -> Reply:
        """Writes what it can of `lines` as the flavour's engine does and answers as it documents."""
        refused: list[tuple[int, str, str]] = []  # (line number, line, reason)
        parsed: list[tuple[str, Line] | None] = []
        for number, line in enumerate(lines, start=1):
            try:
                parsed.append((line, parse_line(line)))
            except LineError as error:
                refused.append((number, line, f"unable to parse '{line}': {error}"))
                parsed.append(None)
        unparsable = bool(refused)
        if self.flavour == "v2" and unparsable:
            number, line, reason = refused[0]
            return Reply(400, {"code": "invalid", "message": reason, "line": number})
        accepted: list[tuple[str, Line]] = []
        for number, item in enumerate(parsed, start=1):
            if item is None:
                continue
            line, point = item
            measurement, fields = point.measurement, point.fields
            conflict = next(
                (
                    (name, kind, known)
                    for name, kind in fields.items()
                    if (known := self.field_types.get((bucket_id, measurement, name), kind)) != kind
                ),
                None,
            )
            if conflict:
                name, kind, known = conflict
                reason = (
                    f'field type conflict: input field "{name}" on measurement "{measurement}" is type {kind}, '
                    f"already exists as type {known}"
                )
                refused.append((number, line, reason))
                continue
            for name, kind in fields.items():
                self.field_types[(bucket_id, measurement, name)] = kind
            accepted.append((line, point))
        for line, point in accepted:
            self.points[(bucket_id, point.series, point.timestamp)] = line
        if not refused:
            return Reply(204)
        if self.flavour == "v2":
            reasons = "; ".join(reason for _, _, reason in refused)
            message = f"failure writing points to database: partial write: {reasons} dropped={len(refused)}"
            return Reply(422, {"code": "unprocessable entity", "message": message})
        data = [
            {"original_line": line, "line_number": number, "error_message": reason}
            for number, line, reason in sorted(refused)[:100]
        ]
        return Reply(400, {"error": "partial write of line protocol occurred", "data": data})


class _Handler(BaseHTTPRequestHandler):
    server_state: InfluxStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    # -- plumbing --------------------------------------------------------------------------------------
    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self) -> Any:
        try:
            return json.loads(self._body() or b"null")
        except ValueError:
            return None

    def _token(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme in ("Token", "Bearer") and value.strip() else None

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return None
        try:
            username, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return username, password

    def _is_admin(self) -> bool:
        state = self.server_state
        cookie = self.headers.get("Cookie") or ""
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and value in state.sessions:
                return True
        token = self._token()
        auth = state.authorization_for(token) if token else None
        return bool(auth and auth["status"] == "active" and auth.get("operator"))

    # -- routes ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        state = self.server_state
        if method == "POST" and path in ("/write", "/api/v2/write"):
            self._send(self._write(path, query))
            return
        if method == "POST" and path == "/api/v2/signin":
            self._body()
            self._send(self._signin())
            return
        body = self._json() if method in ("POST", "PATCH") else None
        if not self._is_admin():
            self._send(Reply(401, UNAUTHORIZED))
            return
        broken = next((status for prefix, status in state.broken.items() if path.startswith(prefix)), None)
        if broken is not None:
            self._send(Reply(broken, {"code": "internal error", "message": "an internal error has occurred"}))
            return
        with state.lock:
            reply = self._manage(method, path, query, body)
            if method != "GET" and reply.status // 100 == 2:
                state.changes.append(f"{method} {path}")
        self._send(reply)

    def _signin(self) -> Reply:
        state = self.server_state
        if self._basic() != state.admin:
            return Reply(401, {"code": "unauthorized", "message": "Unauthorized"})
        session = secrets.token_urlsafe(24)
        state.sessions.add(session)
        return Reply(204, headers={"Set-Cookie": f"{SESSION_COOKIE}={session}; Path=/api/; HttpOnly"})

    def _write(self, path: str, query: dict[str, str]) -> Reply:
        state = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        body = self._body()
        state.write_requests.append(length)
        if length > state.max_request_bytes:
            if state.flavour == "v2":
                return Reply(
                    413,
                    {
                        "code": "request too large",
                        "message": "unable to read data: points batch is too large",
                        "maxLength": state.max_request_bytes,
                    },
                )
            return Reply(413, {"error": f"request body exceeds the limit of {state.max_request_bytes} bytes"})
        with state.lock:
            if path == "/write":
                bucket_id = state.bucket_for(query.get("db", ""), query.get("rp", ""))
            else:
                found = next((b for b in state.buckets.values() if b["name"] == query.get("bucket")), None)
                bucket_id = found["id"] if found else None
            token = self._token()
            auth = state.authorization_for(token) if token else None
            basic = self._basic()
            if auth is None and basic is not None and basic[0] in state.v1_users:
                password, auth_id = state.v1_users[basic[0]]
                auth = state.authorizations.get(auth_id) if password == basic[1] else None
            if bucket_id is None:
                if auth is None:
                    return Reply(401, UNAUTHORIZED)
                where = f'database "{query.get("db", "")}" and retention policy "{query.get("rp", "")}"'
                return Reply(404, {"code": "not found", "message": f"no dbrp mapping for {where}"})
            if not state.may_write(auth, bucket_id):
                return Reply(401, UNAUTHORIZED)
            if state.faults:
                return state.faults.popleft()
            lines = [line for line in body.decode("utf-8", errors="replace").split("\n") if line.strip()]
            return state.take(bucket_id, lines)

    # -- the management API ----------------------------------------------------------------------------
    def _manage(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        segments = path.split("/")[3:]  # after /api/v2
        if not segments:
            return Reply(404, {"code": "not found", "message": "path not found"})
        handler = getattr(self, f"_{segments[0]}", None)
        if handler is None:
            return Reply(404, {"code": "not found", "message": "path not found"})
        item = segments[1] if len(segments) > 1 else None
        result: Reply = handler(method, item, query, body if isinstance(body, dict) else {})
        return result

    def _orgs(self, method: str, item: str | None, query: dict[str, str], body: dict[str, Any]) -> Reply:
        state = self.server_state
        if method == "GET" and item is None:
            orgs = list(state.orgs.values())
            if "org" in query:
                orgs = [o for o in orgs if o["name"] == query["org"]]
                if not orgs:
                    return Reply(
                        404, {"code": "not found", "message": f'organization name "{query["org"]}" not found'}
                    )
            return Reply(200, {"orgs": orgs})
        if method == "POST" and item is None:
            if any(o["name"] == body.get("name") for o in state.orgs.values()):
                return Reply(422, {"code": "conflict", "message": "organization with name already exists"})
            org_id = state._add_org(str(body.get("name")))
            return Reply(201, state.orgs[org_id])
        return Reply(405, {"code": "method not allowed", "message": "method not allowed"})

    def _buckets(self, method: str, item: str | None, query: dict[str, str], body: dict[str, Any]) -> Reply:
        state = self.server_state
        if method == "GET" and item is None:
            found = [b for b in state.buckets.values() if b["orgID"] == query.get("orgID", b["orgID"])]
            if "name" in query:
                found = [b for b in found if b["name"] == query["name"]]
                if not found:
                    return Reply(404, {"code": "not found", "message": f'bucket "{query["name"]}" not found'})
            return Reply(200, {"buckets": found})
        if method == "POST" and item is None:
            if not body.get("name") or body.get("orgID") not in state.orgs:
                return Reply(
                    400, {"code": "invalid", "message": "bucket name and a valid orgID are required"}
                )
            if any(b["name"] == body["name"] and b["orgID"] == body["orgID"] for b in state.buckets.values()):
                return Reply(
                    422, {"code": "conflict", "message": f"bucket with name {body['name']} already exists"}
                )
            rules = body.get("retentionRules") or []
            seconds = int(rules[0]["everySeconds"]) if rules else 0
            return Reply(201, state._create_bucket(body["orgID"], body["name"], seconds))
        if item is not None and item in state.buckets:
            if method == "GET":
                return Reply(200, state.buckets[item])
            if method == "PATCH":
                if "retentionRules" in body:
                    state.buckets[item]["retentionRules"] = body["retentionRules"]
                return Reply(200, state.buckets[item])
        return Reply(404, {"code": "not found", "message": "bucket not found"})

    def _dbrps(self, method: str, item: str | None, query: dict[str, str], body: dict[str, Any]) -> Reply:
        state = self.server_state
        if method == "GET" and item is None:
            found = state.mappings(query.get("orgID", state.org_id))
            if "db" in query:
                found = [m for m in found if m["database"] == query["db"]]
            if "rp" in query:
                found = [m for m in found if m["retention_policy"] == query["rp"]]
            return Reply(200, {"content": found})
        if method == "POST" and item is None:
            if body.get("bucketID") not in state.buckets or body.get("orgID") not in state.orgs:
                return Reply(400, {"code": "invalid", "message": "invalid ID"})
            for existing in list(state.dbrps.values()):
                same = (existing["database"], existing["retention_policy"]) == (
                    body.get("database"),
                    body.get("retention_policy"),
                )
                if same:  # a DBRP combination maps to one bucket: a new mapping replaces it
                    del state.dbrps[existing["id"]]
                elif body.get("default") and existing["database"] == body.get("database"):
                    existing["default"] = False
            mapping = {
                "id": _new_id(),
                "orgID": body["orgID"],
                "bucketID": body["bucketID"],
                "database": body.get("database"),
                "retention_policy": body.get("retention_policy"),
                "default": bool(body.get("default")),
                "virtual": False,
            }
            state.dbrps[mapping["id"]] = mapping
            return Reply(201, {"content": mapping})
        if method == "DELETE" and item in state.dbrps:
            del state.dbrps[item]
            return Reply(204)
        return Reply(404, {"code": "not found", "message": "unable to find DBRP"})

    def _authorizations(
        self, method: str, item: str | None, query: dict[str, str], body: dict[str, Any]
    ) -> Reply:
        state = self.server_state
        if method == "GET" and item is None:
            found = [state.shown(a) for a in state.authorizations.values()]
            if "orgID" in query:
                found = [a for a in found if a["orgID"] == query["orgID"]]
            return Reply(200, {"authorizations": found})
        if method == "POST" and item is None:
            permissions = body.get("permissions")
            if body.get("orgID") not in state.orgs or not isinstance(permissions, list) or not permissions:
                return Reply(400, {"code": "invalid", "message": "an orgID and permissions are required"})
            auth = state._create_authorization(
                body["orgID"],
                str(body.get("description", "")),
                permissions,
                str(body.get("status", "active")),
            )
            return Reply(201, auth)  # the token is shown once, at creation
        if item is not None and item in state.authorizations:
            if method == "GET":
                return Reply(200, state.shown(state.authorizations[item]))
            if method == "DELETE":
                del state.authorizations[item]
                return Reply(204)
            if method == "PATCH":
                state.authorizations[item].update(
                    {k: v for k, v in body.items() if k in ("status", "description")}
                )
                return Reply(200, state.shown(state.authorizations[item]))
        return Reply(404, {"code": "not found", "message": "authorization not found"})

    def _tasks(self, method: str, item: str | None, query: dict[str, str], body: dict[str, Any]) -> Reply:
        state = self.server_state
        if method == "GET" and item is None:
            found = [t for t in state.tasks.values() if t["orgID"] == query.get("orgID", t["orgID"])]
            if "name" in query:
                found = [t for t in found if t["name"] == query["name"]]
            return Reply(200, {"tasks": found})
        if method == "POST" and item is None:
            flux = str(body.get("flux", ""))
            name, every = _TASK_NAME.search(flux), _TASK_EVERY.search(flux)
            if body.get("orgID") not in state.orgs or name is None or every is None:
                return Reply(
                    400, {"code": "invalid", "message": "a task needs an orgID and option task {name, every}"}
                )
            task = {
                "id": _new_id(),
                "orgID": body["orgID"],
                "name": name.group(1),
                "every": every.group(1),
                "flux": flux,
                "status": str(body.get("status", "active")),
                "description": str(body.get("description", "")),
            }
            state.tasks[task["id"]] = task
            return Reply(201, task)
        if item is not None and item in state.tasks:
            task = state.tasks[item]
            if method == "GET":
                return Reply(200, task)
            if method == "PATCH":
                if "flux" in body:
                    name, every = _TASK_NAME.search(body["flux"]), _TASK_EVERY.search(body["flux"])
                    if name is None or every is None:
                        return Reply(
                            400, {"code": "invalid", "message": "option task {name, every} is required"}
                        )
                    task.update(flux=body["flux"], name=name.group(1), every=every.group(1))
                task.update({k: v for k, v in body.items() if k in ("status", "description")})
                return Reply(200, task)
            if method == "DELETE":
                del state.tasks[item]
                return Reply(204)
        return Reply(404, {"code": "not found", "message": "task not found"})


@contextmanager
def running(**options: Any) -> Iterator[InfluxStandIn]:
    """A started stand-in, stopped at the end of the block."""
    standin = InfluxStandIn(**options)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
