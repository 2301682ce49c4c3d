"""A test's HTTP stand-in served for the length of a block (local_aws/serving.py: stopped within 50 ms)."""

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
