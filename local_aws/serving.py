"""An HTTP stand-in served on a thread that ends within a twentieth of a second of its server's `shutdown()`
(http.server polls for it every half second by default: a slow stop of the gateway, most of a pure test's time)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from socketserver import BaseServer
from typing import Self

POLL_SECONDS = 0.05


def serving_thread(server: BaseServer, name: str | None = None) -> threading.Thread:
    """A daemon thread, not started yet, that serves `server` until its `shutdown()`."""
    return threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name=name, daemon=True
    )


class ThreadedServer:
    """An HTTP server on a daemon thread of its own, from `start()` to `stop()`."""

    def __init__(self, server: ThreadingHTTPServer, name: str) -> None:
        self.server = server
        self.server.daemon_threads = True
        self._thread = serving_thread(self.server, name)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
