"""``/metrics``, ``/healthz`` and ``/readyz``: a tiny HTTP/1.0 server on the service's event loop.

Serving from the event loop is itself the liveness signal: if the loop is blocked, ``/healthz`` does not
answer and Kubernetes restarts the pod. Liveness does not depend on the broker (a broker outage must not
restart-storm the services); readiness does (subscribed, partitions assigned, rebuilt).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

from services.metrics import CONTENT_TYPE, Metrics

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    """The metrics and probe endpoints.

    Parameters
    ----------
    metrics : Metrics
    ready : callable
        ``() -> bool`` for ``/readyz``.
    alive : callable, optional
        ``() -> bool`` for ``/healthz`` (default: always, as long as the loop answers).
    host : str
    port : int
        0 binds an ephemeral port (see :attr:`port` after :meth:`start`).
    """

    def __init__(self, metrics: Metrics, *, ready: Callable[[], bool], alive: Callable[[], bool] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = metrics
        self.ready = ready
        self.alive = alive or (lambda: True)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (idempotent)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
            log.info("metrics and probes on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a request."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, CONTENT_TYPE, self.metrics.render()
        if route == "/healthz":
            ok = self.alive()
            return (200 if ok else 503), "text/plain", b"ok\n" if ok else b"unhealthy\n"
        if route == "/readyz":
            ok = self.ready()
            return (200 if ok else 503), "text/plain", b"ready\n" if ok else b"not ready\n"
        return 404, "text/plain", b"not found\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("GET", "/")
            status, ctype, body = self.respond(method, path)
            head = (f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError) as exc:
            log.debug("probe request dropped: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
