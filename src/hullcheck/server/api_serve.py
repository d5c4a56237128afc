"""Serving the API: uvicorn in a thread, on a socket bound before it starts.

    server = ApiServer(app, host="127.0.0.1", port=0).start()   # port 0: any free port
    print(server.url)                                            # http://127.0.0.1:PORT
    server.shutdown()

Binding first means the port is known (and a bad address is a one-line ``UsageError``)
before anything runs, and the tests can use port 0. uvicorn runs its event loop in a daemon
thread and installs no signal handlers there; the caller (``hullcheck serve monitor``)
owns the signals. Library code configures no logging (uvicorn's default would).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from hullcheck.errors import UsageError

START_TIMEOUT = 30.0  # seconds for uvicorn to start serving on a bound socket


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeLimits:
    """What one client can hold of the server."""

    max_connections: int = 512  # open connections and tasks; more get 503 at once
    keep_alive: int = 30  # seconds an idle kept-alive connection stays open
    head_timeout: float = 10.0  # seconds from a request's first byte to its last header
    max_head: int = 64 << 10  # bytes of a request line and headers
    graceful_shutdown: int = 5  # seconds requests in flight get to finish on shutdown


class _HeadDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with one more deadline: a request's head (request line and
    headers) must arrive within ``head_timeout`` of its first byte, or of the connection.
    uvicorn closes idle kept-alive connections but lets a head arrive a byte a minute
    (slowloris), each holding one of the ``max_connections``. The hook points are its
    protocol's own methods (``connection_made``, ``data_received``, ``handle_events``,
    ``on_response_complete``, ``connection_lost``); a test sends a head that never ends."""

    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a whole request head was read
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # idle from here on: uvicorn's keep-alive timeout applies
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with ``IPPROTO_TCP`` spelt out (``create_server`` leaves
    it 0): asyncio sets ``TCP_NODELAY`` only on connections of such sockets, and without it
    every answer written in two pieces waits ~40 ms for a delayed ACK (measured: 45 ms ->
    1 ms a call)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class ApiServer:
    def __init__(self, app: ASGIApp, *, host: str, port: int,
                 limits: ServeLimits | None = None) -> None:
        limits = limits or ServeLimits()
        self.host = host
        self._sock = _bind(host, port)
        protocol = type("HeadDeadline", (_HeadDeadline,), {"head_timeout": limits.head_timeout})
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, access_log=False, server_header=False,
            limit_concurrency=limits.max_connections, timeout_keep_alive=limits.keep_alive,
            h11_max_incomplete_event_size=limits.max_head,
            timeout_graceful_shutdown=limits.graceful_shutdown, http=protocol, ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="hullcheck-api", daemon=True)
        self._failed: BaseException | None = None

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start() or shutdown()
            self._failed = exc

    def start(self) -> ApiServer:
        self._thread.start()
        until = time.monotonic() + START_TIMEOUT
        while not self._server.started and self._thread.is_alive() and time.monotonic() < until:
            time.sleep(0.01)  # uvicorn offers no "started" event to wait on
        if not self._server.started:
            self.shutdown()
            raise UsageError(f"cannot start the API server: {self._failed or 'it stopped'}")
        return self

    def shutdown(self) -> None:
        """Stop accepting, let requests in flight finish (up to the graceful limit), stop."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()
        self._sock.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
