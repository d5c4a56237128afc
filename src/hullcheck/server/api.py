"""The monitoring service's REST API under ``/api/v1``: a Starlette app over ``monitor.Service``.

    app = create_app(service, settings=ApiSettings(intake_rate="60/minute"))
    server = ApiServer(app, host="127.0.0.1", port=8080).start()      # server/api_serve.py

Routes are data (``ENDPOINTS``, in ``api_routes``): each names its method, path, the scope it
needs (read < write < admin), whether it is intake (rate-limited per token), and what the
OpenAPI document says about it; ``openapi.json`` is generated from the same table, so the
two cannot drift. Every call:

1. needs ``Authorization: Bearer TOKEN`` (401 without; the store verifies it), then the
   endpoint's scope (403);
2. intake calls count against the token's rate (429 with ``Retry-After``);
3. bodies are read with a size cap as they stream and a total-time deadline, sniffed from
   their bytes, parsed with hullcheck's limits (``api_http``);
4. the work (the store, the facade) runs in a worker thread under the request's deadline
   (``hullcheck.deadline``), so a slow registry or database ends in a one-line 504;
5. every refusal is ``{"error": "<one line>"}``; an unexpected exception is a 500 saying
   only its type (the traceback goes to the ``hullcheck.api`` logger).

The next issue's web pages are added to the same app (``extra_routes``) and authenticate
with :meth:`Api.authenticate`, the same tokens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hullcheck import deadline
from hullcheck.errors import DeadlineExceeded, HullcheckError
from hullcheck.fleet.model import TokenInfo
from hullcheck.monitor.service import MAX_DEPLOYMENTS, MAX_ENVELOPE, MAX_UPLOAD
from hullcheck.server.api_auth import RateLimiter, bearer, require, unknown_token
from hullcheck.server.api_http import ApiError, error_response, from_error, read_body

if TYPE_CHECKING:
    from hullcheck.monitor.service import Service
    from hullcheck.server.api_routes import Endpoint

PREFIX = "/api/v1"
T = TypeVar("T")
log = logging.getLogger("hullcheck.api")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiSettings:
    """Limits of one API node. Body caps default to the facade's own (``monitor.service``)."""

    max_body: int = 1 << 20  # a small JSON request (scan request, triage decision)
    max_upload: int = MAX_UPLOAD  # a pushed scan result or an SBOM
    max_envelope: int = MAX_ENVELOPE  # a registry notification envelope
    max_deployments: int = MAX_DEPLOYMENTS  # kubectl get pods -A -o json of a large cluster
    body_timeout: float = 120.0  # seconds to receive a whole body (at ~0.5 MB/s: 64 MiB)
    request_timeout: float = 60.0  # seconds of work for one request, once its body is in
    intake_rate: str = "120/minute"  # per token, on intake calls


class Api:
    """What every handler needs: the facade, the settings, the rate limiter."""

    def __init__(self, service: Service, settings: ApiSettings) -> None:
        self.service = service
        self.settings = settings
        self.limiter = RateLimiter(settings.intake_rate)

    async def authenticate(self, token: str) -> TokenInfo:
        """The token's info (a store read, in a thread), or a 401."""
        info = await self.run("verifying the token", self.service.verify_token, token)
        if info is None:
            raise unknown_token()
        return info

    async def run(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread under the request deadline: every
        network wait inside honours it (``hullcheck.deadline``), and the answer does not wait
        past it even if the thread does (it then finishes in the background)."""
        seconds = self.settings.request_timeout

        def call() -> T:
            with deadline.within(seconds, what):
                return fn(*args, **kwargs)

        try:
            async with asyncio.timeout(seconds + 1.0):
                return await run_in_threadpool(call)
        except TimeoutError:
            raise ApiError(504, f"{what}: not done within {seconds:g}s; it may still "
                                "complete") from None
        except DeadlineExceeded as exc:  # said as the service's limit, not the CLI's --timeout
            raise ApiError(504, str(exc).replace(" (--timeout)", ""),
                           hint=f"the service gives each request {seconds:g}s; try again "
                                "later") from None
        except HullcheckError as exc:
            raise from_error(exc) from None


@dataclass(slots=True)
class Call:
    """One authenticated call to an endpoint."""

    request: Request
    api: Api
    token: TokenInfo
    endpoint: Endpoint

    @property
    def service(self) -> Service:
        return self.api.service

    @property
    def actor(self) -> str:
        """Who the audit log names: the token's name."""
        return self.token.name

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.api.run(self.endpoint.label, fn, *args, **kwargs)

    async def body(self, *, limit: int, what: str) -> bytes:
        return await read_body(self.request, limit=limit, timeout=self.api.settings.body_timeout,
                               what=what)

    def query(self, name: str, *, required: bool = False, limit: int = 1000) -> str | None:
        values = self.request.query_params.getlist(name)
        if len(values) > 1:
            raise ApiError(400, f"query parameter {name!r} is given {len(values)} times")
        value = values[0] if values else None
        if value is not None and (len(value) > limit or not value.isprintable()):
            raise ApiError(400, f"query parameter {name!r}: at most {limit} printable characters")
        if required and not value:
            raise ApiError(400, f"query parameter {name!r} is required")
        return value or None

    def number(self, name: str, *, default: int, low: int, high: int) -> int:
        text = self.query(name, limit=20)
        if text is None:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise ApiError(400, f"query parameter {name!r}: a whole number from {low} to {high}")
        return int(text)


def _handler(api: Api, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            info = await api.authenticate(bearer(request.headers))
            require(info, endpoint.scope)
            if endpoint.intake:
                api.limiter.hit(info)
            return await endpoint.handler(Call(request=request, api=api, token=info,
                                               endpoint=endpoint))
        except ApiError as exc:
            return error_response(exc)
        except HullcheckError as exc:
            return error_response(from_error(exc))
        except Exception as exc:  # a bug: one line to the client, the traceback to the log
            return await _internal(request, exc)

    handle.__name__ = endpoint.name
    return handle


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 / 405 from routing, as JSON like every other refusal."""
    assert isinstance(exc, HTTPException)
    what = {404: f"no such endpoint: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(ApiError(exc.status_code, what.get(exc.status_code, str(exc.detail)),
                                   headers=exc.headers))


async def _internal(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(500, f"internal error ({type(exc).__name__}); the "
                                        "service log has the details"))


def create_app(service: Service, *, settings: ApiSettings | None = None,
               extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app: the API's routes (and ``extra_routes``: the pages, later)."""
    from hullcheck.server.api_routes import ENDPOINTS

    api = Api(service, settings or ApiSettings())
    routes: list[BaseRoute] = [
        Route(PREFIX + e.path, _handler(api, e), methods=[e.method], name=e.name)
        for e in ENDPOINTS
    ]
    app = Starlette(routes=[*routes, *extra_routes],
                    exception_handlers={HTTPException: _http_error, Exception: _internal})
    app.state.api = api
    return app
