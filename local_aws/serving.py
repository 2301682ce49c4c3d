"""An HTTP stand-in served on a thread that ends within a twentieth of a second of its server's `shutdown()`
(http.server polls for it every half second by default: a slow stop of the gateway, most of a pure test's time)."""

from __future__ import annotations

import threading
from socketserver import BaseServer

POLL_SECONDS = 0.05


def serving_thread(server: BaseServer, name: str | None = None) -> threading.Thread:
    """A daemon thread, not started yet, that serves `server` until its `shutdown()`."""
    return threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name=name, daemon=True
    )
