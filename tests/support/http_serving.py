"""A test's HTTP stand-in served on a thread, and stopped within a twentieth of a second (http.server polls for
its shutdown every half second by default: most of a pure test's time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import TypeVar

from local_aws.serving import serving_thread

Server = TypeVar("Server", bound=BaseServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Serves `server` until the block ends, then shuts it down and closes its socket."""
    thread = serving_thread(server)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
