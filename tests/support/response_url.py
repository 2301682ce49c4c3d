"""A local stand-in for CloudFormation's pre-signed ResponseURL (an S3 URL in AWS): it keeps every response a
custom resource PUTs, so a test reads what CloudFormation would have been told."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_aws.serving import serving_thread


class ResponseUrl:
    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        self.content_types: list[str | None] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/cfn-response?X-Amz-Signature=test"

    def __enter__(self) -> ResponseUrl:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.responses.append(json.loads(body))
                owner.content_types.append(self.headers.get("Content-Type"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = serving_thread(self._server)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def last(self) -> dict[str, Any]:
        assert self.responses, "the custom resource never answered CloudFormation"
        return self.responses[-1]
