"""The admission webhook over HTTPS: asyncio for connections and TLS, h11 for HTTP/1.1.

    server = serve(controller, host="0.0.0.0", port=8443, cert=..., key=..., limits=Limits())
    ...
    server.shutdown()

Why this shape. The standard library's ThreadingHTTPServer gives each connection a thread
and times reads per recv(), so 300 connections that each send half a header hold 300
threads for as long as they like (slowloris). uvicorn has no deadline for receiving a
request either (its keep-alive timeout restarts on every byte; adding one means subclassing
its internal protocol classes), and one POST endpoint does not need Starlette's routing.
Here every connection is a coroutine on one event-loop thread, and each phase has a deadline
in total time, not per read: the TLS handshake, the request head, the body, writing the
answer. Connections are capped; reviews are evaluated in a fixed pool of threads, at most
``max_concurrent`` at once (more are answered at once by the failure policy), and every
review is answered within ``review_timeout``: an evaluation still running then is left to
finish in the background while the failure policy answers. h11 (httpx's HTTP/1.1 parser)
reads and writes the protocol.

Each decision is logged as one JSON line (logger ``hullcheck.admission``; the CLI sends it
to standard error); ``GET /metrics`` serves Prometheus counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import h11

from hullcheck import deadline
from hullcheck.errors import UsageError
from hullcheck.server.admission import AdmissionController, BadReview, Review, Verdict, parse_review
from hullcheck.server.metrics import CONTENT_TYPE, AdmissionMetrics

MAX_BODY = 3 << 20  # the API server's own request limit is about 3 MiB
MAX_HEAD = 64 << 10  # request line and headers
READ_CHUNK = 64 << 10
LINGER = 2.0  # seconds to drain a refused request's input before closing
MAX_LOGGED = 256  # characters of each name, uid or image in the decision log
JSON = "application/json"

log = logging.getLogger("hullcheck.admission")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Seconds and counts that bound what one client can hold."""

    review_timeout: float = 8.0  # every review answered within this: below timeoutSeconds
    max_concurrent: int = 16  # reviews evaluated at once; more get the failure policy at once
    max_connections: int = 512  # open connections; more are closed on arrival
    handshake_timeout: float = 5.0  # the TLS handshake
    header_timeout: float = 5.0  # from the request's first byte (or the connection) to its last header
    body_timeout: float = 5.0  # the whole body
    write_timeout: float = 5.0  # the whole answer
    idle_timeout: float = 30.0  # a kept-alive connection waiting for its next request
    max_body: int = MAX_BODY

    def evaluation_budget(self, left: float) -> float:
        """The deadline given to the evaluation when ``left`` seconds remain: a little
        earlier than the hard stop, so a registry client honouring it says where it was."""
        return max(left - min(0.5, left / 10), 0.0)


class _Closed(Exception):
    """The connection is over: the client closed it, was too slow, or broke the protocol."""


class _Refused(Exception):
    """An HTTP error answer, after which the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdmissionServer:
    """The webhook: an event loop in a daemon thread, and a pool of review threads."""

    def __init__(self, controller: AdmissionController, context: ssl.SSLContext, *,
                 host: str, port: int, limits: Limits | None = None) -> None:
        self.controller = controller
        self.limits = limits or Limits()
        self.metrics = AdmissionMetrics()
        self._context = context
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._pool = ThreadPoolExecutor(max_workers=self.limits.max_concurrent,
                                        thread_name_prefix="hullcheck-review")
        self._slots = threading.Lock()
        self._in_flight = 0
        self._connections: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hullcheck-admission",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def start(self) -> AdmissionServer:
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            self.shutdown()
            raise UsageError(f"cannot start the webhook: {self._failed}")
        return self

    def shutdown(self) -> None:
        """Stop accepting, drop open connections, and leave running evaluations behind."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._sock.close()

    # -- the event loop ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # could not start: start() reports it
            self._failed = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_loop_error)
        self._loop, self._stop = loop, asyncio.Event()
        lim = self.limits
        server = await asyncio.start_server(
            self._accept, sock=self._sock, ssl=self._context,
            ssl_handshake_timeout=lim.handshake_timeout, ssl_shutdown_timeout=lim.write_timeout)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self.limits.max_connections:
            self.metrics.error("too_many_connections")
            writer.transport.abort()
            return
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (_Closed, OSError, TimeoutError):
            writer.transport.abort()  # a slow or broken client gets no more of our time
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests on one connection, in turn, until it closes or breaks a limit."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        first = True
        while True:
            request = await self._read_head(conn, reader, writer, first=first)
            if request is None:
                return
            first = False
            try:
                body = await self._read_body(conn, reader, request)
            except _Refused as refused:
                await self._send(conn, writer, request, refused.status,
                                 _json({"error": str(refused)}), close=True)
                await _linger(reader)
                return
            status, payload, content_type = await self._route(request, body)
            await self._send(conn, writer, request, status, payload, content_type=content_type)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_head(self, conn: h11.Connection, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter, *, first: bool) -> h11.Request | None:
        """The next request's head, or None when the client is done. The header deadline
        runs from the connection (first request) or the request's first byte (later ones)."""
        lim = self.limits
        if not first and not conn.trailing_data[0]:
            try:
                async with asyncio.timeout(lim.idle_timeout):
                    data = await reader.read(READ_CHUNK)
            except TimeoutError:
                return None
            conn.receive_data(data)
        try:
            async with asyncio.timeout(lim.header_timeout):
                event = await _next_event(conn, reader)
        except TimeoutError:
            self.metrics.error("header_timeout")
            raise _Closed from None
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            self.metrics.error("too_large" if status == 431 else "protocol")
            with contextlib.suppress(h11.LocalProtocolError):
                await self._send(conn, writer, None, status, _json({"error": f"bad request: {exc}"}),
                                 close=True)
            raise _Closed from None
        return event if isinstance(event, h11.Request) else None

    async def _read_body(self, conn: h11.Connection, reader: asyncio.StreamReader,
                         request: h11.Request) -> bytes:
        lim = self.limits
        length = _header(request, b"content-length")
        if length is not None and int(length) > lim.max_body:
            self.metrics.error("too_large")
            raise _Refused(413, f"request body over {lim.max_body} bytes")
        parts: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(lim.body_timeout):
                while True:
                    event = await _next_event(conn, reader)
                    if isinstance(event, h11.EndOfMessage):
                        return b"".join(parts)
                    if not isinstance(event, h11.Data):
                        raise _Closed  # the client went away mid-body
                    total += len(event.data)
                    if total > lim.max_body:
                        self.metrics.error("too_large")
                        raise _Refused(413, f"request body over {lim.max_body} bytes")
                    parts.append(bytes(event.data))
        except TimeoutError:
            self.metrics.error("body_timeout")
            raise _Refused(408, f"request body not received within {lim.body_timeout:g}s") from None
        except h11.RemoteProtocolError as exc:
            self.metrics.error("protocol")
            raise _Refused(400, f"bad request body: {exc}") from None

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                    request: h11.Request | None, status: int, payload: bytes, *,
                    content_type: str = JSON, close: bool = False) -> None:
        headers = [("content-type", content_type), ("content-length", str(len(payload)))]
        if close:
            headers.append(("connection", "close"))
        data = conn.send(h11.Response(status_code=status, headers=headers,
                                      reason=HTTPStatus(status).phrase.encode())) or b""
        if request is None or request.method != b"HEAD":
            data += conn.send(h11.Data(data=payload)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        writer.write(data)
        async with asyncio.timeout(self.limits.write_timeout):
            await writer.drain()

    # -- requests ---------------------------------------------------------------------------

    async def _route(self, request: h11.Request, body: bytes) -> tuple[int, bytes, str]:
        method = request.method.decode("ascii", "replace")
        path = request.target.decode("ascii", "replace").split("?", 1)[0]
        if method in ("GET", "HEAD"):
            if path in ("/healthz", "/readyz"):
                return 200, _json({"status": "ok"}), JSON
            if path == "/metrics":
                return 200, self.metrics.render(), CONTENT_TYPE
            return 404, _json({"error": "not found"}), JSON
        if method != "POST":
            return 405, _json({"error": f"method {method} not allowed"}), JSON
        try:
            status, doc = await self._review(body)
        except Exception as exc:  # a bug: still an answer, in one line
            self.metrics.error("internal")
            log.error(json.dumps({"time": _now(), "event": "internal_error",
                                  "error": repr(exc)[:500]}))
            return 500, _json({"error": f"internal error in hullcheck: {type(exc).__name__}"}), JSON
        return status, _json(doc), JSON

    async def _review(self, body: bytes) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        try:
            review = parse_review(body)
        except BadReview as exc:
            self.metrics.error("bad_review")
            log.warning(json.dumps({"time": _now(), "event": "bad_review", "error": str(exc)}))
            return 400, {"error": str(exc)}
        verdict = await self._judge(review, started)
        seconds = time.monotonic() - started
        self.metrics.decided(verdict, seconds)
        log.info(json.dumps(decision_record(review, verdict, seconds)))
        return 200, self.controller.answer(review, verdict)

    async def _judge(self, review: Review, started: float) -> Verdict:
        """The verdict, by ``review_timeout`` after ``started`` whatever the evaluation does."""
        lim = self.limits
        if not review.images:  # nothing to fetch (DELETE, a ConfigMap): decided here
            return self.controller.decide(review)
        if not self._take_slot():
            return self.controller.fallback(
                review, f"the webhook is busy: all {lim.max_concurrent} review slots are in use "
                        "(--max-concurrent-reviews)", busy=True)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Verdict] = loop.create_future()
        budget = lim.evaluation_budget(started + lim.review_timeout - time.monotonic())
        try:
            self._pool.submit(self._evaluate, review, budget, loop, done)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._free_slot()
            raise _Closed from None
        # asyncio.wait does not cancel what it waits for: at the deadline the evaluation goes
        # on in its thread (holding its slot) and the failure policy answers now.
        finished, _ = await asyncio.wait({done}, timeout=started + lim.review_timeout - time.monotonic())
        if done in finished:
            return done.result()
        return self.controller.fallback(
            review, f"no verdict within {lim.review_timeout:g}s (--review-timeout)", timed_out=True)

    def _evaluate(self, review: Review, seconds: float, loop: asyncio.AbstractEventLoop,
                  done: asyncio.Future[Verdict]) -> None:
        """In a pool thread: decide under the review's deadline, hand the verdict back."""
        try:
            with deadline.within(seconds, f"admission review {review.uid[:MAX_LOGGED]}"):
                verdict = self.controller.decide(review)
        except Exception as exc:  # a bug: still answered (denied), and logged in one line
            log.error(json.dumps({"time": _now(), "event": "internal_error",
                                  "uid": review.uid[:MAX_LOGGED], "error": repr(exc)[:500]}))
            verdict = self.controller.internal_error(review, exc)
        finally:
            self._free_slot()
        with contextlib.suppress(RuntimeError):  # the loop has ended: the server was stopped
            loop.call_soon_threadsafe(_settle, done, verdict)

    def _take_slot(self) -> bool:
        with self._slots:
            if self._in_flight >= self.limits.max_concurrent:
                return False
            self._in_flight += 1
            self.metrics.in_flight.set(self._in_flight)
            return True

    def _free_slot(self) -> None:
        with self._slots:
            self._in_flight -= 1
            self.metrics.in_flight.set(self._in_flight)


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event, reading as needed (an empty read is the end of the stream)."""
    while True:
        event = conn.next_event()
        if event is h11.PAUSED:
            return h11.ConnectionClosed()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(READ_CHUNK))


async def _linger(reader: asyncio.StreamReader) -> None:
    """Drop what the client still sends, for a moment: closing with unread input resets the
    connection, and the client could lose the answer it has not read yet."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(LINGER):
            while await reader.read(READ_CHUNK):
                pass


def _header(request: h11.Request, name: bytes) -> bytes | None:
    return next((value for key, value in request.headers if key == name), None)


def _settle(done: asyncio.Future[Verdict], verdict: Verdict) -> None:
    if not done.done():
        done.set_result(verdict)


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A client's broken TLS or dropped connection: nothing to answer, no traceback on stderr.
    log.debug(json.dumps({"time": _now(), "event": "connection_error",
                          "error": repr(context.get("exception") or context.get("message"))[:300]}))


def _logged(text: str) -> str:
    return text if len(text) <= MAX_LOGGED else text[: MAX_LOGGED - 3] + "..."


def decision_record(review: Review, verdict: Verdict, seconds: float) -> dict[str, Any]:
    """The decision log line: who asked about what, the verdict, why, how long it took."""
    return {
        "time": _now(),
        "event": "decision",
        "uid": _logged(review.uid),
        "kind": _logged(review.kind),
        "namespace": _logged(review.namespace),
        "name": _logged(review.name),
        "operation": _logged(review.operation),
        "images": [{"container": _logged(r.container), "role": r.role, "image": _logged(r.image),
                    "digest": r.digest or None, "outcome": r.outcome} for r in verdict.images],
        "allowed": verdict.allowed,
        "reasons": list(verdict.reasons),
        "timed_out": verdict.timed_out,
        "busy": verdict.busy,
        "duration_ms": round(seconds * 1000, 1),
    }


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from None
    return context


def serve(controller: AdmissionController, *, host: str, port: int, cert: Path, key: Path,
          limits: Limits | None = None) -> AdmissionServer:
    """A started server (in a daemon thread); call ``shutdown()`` to stop it."""
    context = tls_context(cert, key)
    return AdmissionServer(controller, context, host=host, port=port, limits=limits).start()
