"""What every page shares: templates, security headers, sessions, CSRF, errors.

    @page(Scope.READ)
    async def fleet(ctx: PageContext) -> Response:
        data = await ctx.run(build.fleet, ctx.service, ...)      # a thread, under a deadline
        return ctx.render("fleet.html", data=data)

- **Sessions.** ``/login`` takes an API token and sets a cookie holding a random session id
  (``fleet.sessions``: the store keeps its hash, the token it acts as, when it ends). The
  cookie is HttpOnly, SameSite=Strict, ``Secure`` (and named ``__Host-…``) when the request
  came over TLS. A page without a live session redirects to ``/login``; a session acts with
  its token's scope (read to look, write to triage, admin for settings) and name (the audit
  log's "who").
- **CSRF.** Every form that changes something carries a token derived from the session id
  (HMAC; only the browser's HttpOnly cookie knows the id) and is refused without it; POSTs
  whose ``Origin`` (or ``Referer``) names another site are refused before that. The login
  form has its own double-submit cookie.
- **Headers.** A strict Content-Security-Policy (``default-src 'none'``; scripts, styles,
  images and requests from this origin only; the one inline ``<style>`` of the login page
  allowed by its hash), ``frame-ancestors 'none'``, ``nosniff``, no referrer to other sites,
  ``no-store`` on pages.
- **Errors.** Expected failures are an HTML page with one line and the right status; an
  unexpected one says only its type (the traceback goes to the ``hullcheck.pages`` log).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hullcheck.errors import HullcheckError
from hullcheck.fleet import sessions
from hullcheck.fleet.model import Scope, TokenInfo
from hullcheck.server.api_http import ApiError, from_error, one_line

if TYPE_CHECKING:
    from hullcheck.monitor.service import Service
    from hullcheck.server.api import Api

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
T = TypeVar("T")
log = logging.getLogger("hullcheck.pages")

COOKIE = "hullcheck_session"
SECURE_COOKIE = "__Host-hullcheck_session"  # the prefix makes browsers insist on Secure, Path=/
LOGIN_COOKIE = "hullcheck_login"  # the login form's double-submit CSRF value
SESSION_LIFETIME_HOURS = 12
MAX_FORM = 64 << 10  # bytes of a form body
MAX_FIELD = 2000  # characters of one form field


def _login_style() -> str:
    """The login page's stylesheet, inline: no asset is served before signing in."""
    return (STATIC / "login.css").read_text()


LOGIN_STYLE = _login_style()
_LOGIN_STYLE_HASH = base64.b64encode(hashlib.sha256(LOGIN_STYLE.encode()).digest()).decode()


def csp(*, login: bool = False) -> str:
    style = f"'self' 'sha256-{_LOGIN_STYLE_HASH}'" if login else "'self'"
    return ("default-src 'none'; script-src 'self'; style-src " + style + "; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def security_headers(*, login: bool = False, cache: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp(login=login),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, max-age=3600" if cache else "no-store",
    }


# -- templates ---------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    from hullcheck.server.pages import filters

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        auto_reload=False)
    env.filters.update(filters.FILTERS)
    env.globals.update(filters.GLOBALS)
    return env


ENV = _environment()


def render_html(template: str, **values: Any) -> str:
    return ENV.get_template(template).render(**values)


# -- sessions and CSRF --------------------------------------------------------------------------


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if is_tls(request) else COOKIE


def session_id(request: Request) -> str:
    return request.cookies.get(cookie_name(request), "")


def csrf_token(sid: str) -> str:
    key = hashlib.sha256(b"hullcheck-csrf\x00" + sid.encode("utf-8", "surrogateescape")).digest()
    return hmac.new(key, b"form", hashlib.sha256).hexdigest()


def csrf_ok(sid: str, given: str) -> bool:
    # compare_digest takes ASCII strings only; a token is 64 hex digits
    return bool(sid) and given.isascii() and hmac.compare_digest(csrf_token(sid), given)


def same_origin(request: Request) -> bool:
    """Whether a POST comes from our own pages: its ``Origin`` (or, without one, its
    ``Referer``) names this host; a request with neither (not a browser) passes on to the
    CSRF token, which it cannot have."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if not source:
        return True
    if source == "null":
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def set_session_cookie(response: Response, request: Request, sid: str) -> None:
    response.set_cookie(cookie_name(request), sid, max_age=SESSION_LIFETIME_HOURS * 3600,
                        path="/", httponly=True, samesite="strict", secure=is_tls(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(cookie_name(request), path="/", httponly=True, samesite="strict",
                           secure=is_tls(request))


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


# -- the context of one page ----------------------------------------------------------------------


@dataclass(slots=True)
class PageContext:
    request: Request
    api: Api
    viewer: TokenInfo
    sid: str

    @property
    def service(self) -> Service:
        return self.api.service

    @property
    def actor(self) -> str:
        return self.viewer.name

    def can(self, scope: Scope) -> bool:
        return self.viewer.scope.allows(scope)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.api.run(f"{self.request.method} {self.request.url.path}", fn,
                                  *args, **kwargs)

    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        html = render_html(template, viewer=self.viewer, csrf=csrf_token(self.sid),
                           can_write=self.can(Scope.WRITE), can_admin=self.can(Scope.ADMIN),
                           path=self.request.url.path, **values)
        return HTMLResponse(html, status_code=status, headers=security_headers())

    async def form(self) -> Mapping[str, str]:
        """The POSTed form, checked: same origin, CSRF token, sizes. ApiError otherwise."""
        return await read_form(self.request, sid=self.sid)


async def read_form(request: Request, *, sid: str | None) -> dict[str, str]:
    """A urlencoded form of at most ``MAX_FORM`` bytes, one value per field, each printable
    and at most ``MAX_FIELD`` characters; with ``sid``, its CSRF token must match."""
    from hullcheck.server.api_http import read_body

    if not same_origin(request):
        raise ApiError(403, "this form was posted from another site; refused")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise ApiError(415, "forms are sent as application/x-www-form-urlencoded")
    body = await read_body(request, limit=MAX_FORM, timeout=30.0, what="form")
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form is not valid UTF-8 urlencoded data") from None
    form: dict[str, str] = {}
    for key, raw in pairs:
        if key in form:
            raise ApiError(400, f"form field {key[:40]!r} is given twice")
        value = raw.replace("\r\n", "\n")
        if len(value) > MAX_FIELD or not value.replace("\n", " ").isprintable():
            raise ApiError(400, f"form field {key[:40]!r}: at most {MAX_FIELD} printable "
                                "characters")
        form[key] = value
    if sid is not None and not csrf_ok(sid, form.get("csrf", "")):
        raise ApiError(403, "the form's CSRF token is missing or wrong; reload the page and "
                            "try again")
    return form


# -- error pages -----------------------------------------------------------------------------


def error_page(status: int, message: str, *, hint: str = "",
               viewer: TokenInfo | None = None) -> HTMLResponse:
    html = render_html("error.html", status=status, message=one_line(message),
                       hint=one_line(hint), viewer=viewer, csrf="", can_write=False,
                       can_admin=False, path="")
    return HTMLResponse(html, status_code=status, headers=security_headers())


async def _viewer(request: Request, api: Api) -> tuple[TokenInfo | None, str]:
    sid = session_id(request)
    if not sid:
        return None, ""
    store = api.service.store

    def lookup() -> TokenInfo | None:
        with store.read() as conn:
            return sessions.lookup(conn, sid, now=store.clock())

    return await api.run("checking the session", lookup), sid


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={_quote(target)}", status_code=303,
                                headers=security_headers())
    if session_id(request):
        clear_session_cookie(response, request)  # a session that ended: forget it
    return response


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target \
            or not target.isprintable():
        return "/"
    return target


Handler = Callable[[PageContext], Awaitable[Response]]


def page(scope: Scope) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A page handler: a live session of at least ``scope``, errors as pages."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            api: Api = request.app.state.api
            viewer: TokenInfo | None = None
            try:
                viewer, sid = await _viewer(request, api)
                if viewer is None:
                    if request.method == "GET" and "hx-request" not in request.headers:
                        return _to_login(request)
                    return error_page(401, "you are not signed in (or your session ended)",
                                      hint="sign in again at /login")
                if not viewer.scope.allows(scope):
                    return error_page(403, f"token {viewer.name!r} has scope "
                                           f"{viewer.scope.value}; this needs {scope.value}",
                                      viewer=viewer)
                return await handler(PageContext(request=request, api=api, viewer=viewer,
                                                 sid=sid))
            except ApiError as exc:
                return error_page(exc.status, exc.message, hint=exc.hint, viewer=viewer)
            except HullcheckError as exc:
                err = from_error(exc)
                return error_page(err.status, err.message, hint=err.hint, viewer=viewer)
            except Exception as exc:  # a bug: one line to the browser, the traceback to the log
                log.error("internal error on %s %s", request.method, request.url.path,
                          exc_info=exc)
                return error_page(500, f"internal error ({type(exc).__name__}); the service "
                                       "log has the details", viewer=viewer)

        return endpoint

    return wrap


def markup(svg: str) -> Markup:
    """Markup the server drew itself (report.svg): numbers and fixed words only."""
    return Markup(svg)  # noqa: S704 - built from numbers and fixed words, nothing a user sent
