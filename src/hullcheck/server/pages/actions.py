"""What the pages change (POST): signing in and out, triage, and the settings (tokens,
a channel's test event, dead letters). Every form is checked by ``web.read_form`` (same
origin, CSRF token, sizes); every change is audit-logged with the session's token name."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import uuid
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hullcheck.errors import HullcheckError, UsageError
from hullcheck.fleet import sessions
from hullcheck.fleet.model import Scope, TokenInfo, TriageAction, TriageDecision, TriageScope
from hullcheck.server.api_auth import MAX_TOKEN
from hullcheck.server.api_http import ApiError, from_error
from hullcheck.server.pages import build
from hullcheck.server.pages.web import (
    LOGIN_COOKIE,
    LOGIN_STYLE,
    SESSION_LIFETIME_HOURS,
    PageContext,
    clear_session_cookie,
    new_login_nonce,
    page,
    read_form,
    render_html,
    safe_next,
    security_headers,
    session_id,
    set_session_cookie,
)

_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present",
                  "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary",
                  "inline_mitigations_already_exist")


# -- signing in and out ---------------------------------------------------------------------------


def _login_page(request: Request, *, error: str = "", status: int = 200,
                next_path: str = "/") -> HTMLResponse:
    nonce = new_login_nonce()
    html = render_html("login.html", style=Markup(LOGIN_STYLE),  # noqa: S704 - our own file
                       nonce=nonce, error=error,
                       next_path=safe_next(next_path),
                       done=request.query_params.get("done", "")[:20])
    response = HTMLResponse(html, status_code=status, headers=security_headers(login=True))
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request, next_path=request.query_params.get("next", "/")[:2000])


async def login(request: Request) -> Response:
    """Check the token, start a session, go where the browser was headed."""
    api = request.app.state.api
    try:
        form = await read_form(request, sid=None)
    except ApiError as exc:
        return _login_page(request, error=exc.message, status=exc.status)
    next_path = form.get("next", "/")
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("login", "")
    if not nonce or not given.isascii() or not nonce.isascii() or \
            not hmac.compare_digest(nonce, given):
        return _login_page(request, status=403, next_path=next_path,
                           error="the sign-in form expired or came from elsewhere; try again")
    token = form.get("token", "").strip()
    if not token or len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
        return _login_page(request, status=401, next_path=next_path,
                           error="that is not an API token (hc_…)")
    store = api.service.store

    def start() -> tuple[TokenInfo, str] | None:
        info = api.service.verify_token(token)
        if info is None:
            return None
        with store.write() as conn:
            sid = sessions.create(conn, info.id, now=store.clock(),
                                  lifetime=dt.timedelta(hours=SESSION_LIFETIME_HOURS))
        store.audit(actor=info.name, action="session.login", target=f"token:{info.name}")
        return info, sid

    try:
        started = await api.run("signing in", start)
    except (ApiError, HullcheckError) as exc:
        err = exc if isinstance(exc, ApiError) else from_error(exc)
        return _login_page(request, status=err.status, next_path=next_path, error=err.message)
    if started is None:
        return _login_page(request, status=401, next_path=next_path,
                           error="the token is not known or was revoked")
    response = RedirectResponse(safe_next(next_path), status_code=303,
                                headers=security_headers())
    set_session_cookie(response, request, started[1])
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@page(Scope.READ)
async def logout(ctx: PageContext) -> Response:
    await ctx.form()
    store = ctx.service.store
    sid = session_id(ctx.request)

    def end() -> None:
        with store.write() as conn:
            sessions.delete(conn, sid)
        store.audit(actor=ctx.actor, action="session.logout", target=f"token:{ctx.actor}")

    await ctx.run(end)
    response = RedirectResponse("/login?done=logout", status_code=303,
                                headers=security_headers())
    clear_session_cookie(response, ctx.request)
    return response


# -- triage ---------------------------------------------------------------------------------


def _choice(form: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    value = form.get(key, "").strip()
    if value and value not in choices:
        raise UsageError(f"{key}: choose one of {', '.join(choices)}")
    return value


def triage_decision(form: Mapping[str, str], *, digest: str, repository: str,
                    today: dt.date) -> TriageDecision:
    """The decision a triage form describes; a one-line UsageError for each mistake."""
    action = TriageAction(_choice(form, "action", tuple(TriageAction)) or "acknowledge")
    scope = TriageScope(_choice(form, "scope", tuple(TriageScope)) or "image")
    advisory_id = form.get("advisory", "").strip()
    if not advisory_id:
        raise UsageError("the form names no advisory")
    purl = form.get("package", "").strip() if form.get("apply", "package") == "package" else ""
    assignee = form.get("assignee", "").strip()
    reason = form.get("reason", "").strip()
    status = _choice(form, "vex_status", VEX_STATUSES) if action is TriageAction.VEX else ""
    justification = _choice(form, "justification", JUSTIFICATIONS) \
        if action is TriageAction.VEX and status == "not_affected" else ""
    expires = None
    if action is TriageAction.ASSIGN and not assignee:
        raise UsageError("assign: say to whom")
    if action is TriageAction.VEX:
        if not status:
            raise UsageError(f"VEX: choose a status ({', '.join(VEX_STATUSES)})")
        if status == "not_affected" and not justification:
            raise UsageError("VEX not_affected: choose a justification")
    if action is TriageAction.WAIVE:  # the range and the reason: triage.check, as for the API
        expires = _expiry(form.get("expires", ""))
    return TriageDecision(scope=scope, target=digest if scope is TriageScope.IMAGE else repository,
                          advisory_id=advisory_id, action=action, package_purl=purl,
                          assignee=assignee if action is TriageAction.ASSIGN else "",
                          vex_status=status, vex_justification=justification, reason=reason,
                          expires=expires)


def _expiry(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError("waiver: the expiry must be a date (YYYY-MM-DD)") from None


@page(Scope.WRITE)
async def triage(ctx: PageContext) -> Response:
    form = await ctx.form()
    digest = form.get("digest", "")
    if not build.DIGEST.fullmatch(digest):
        raise ApiError(400, "the form names no image digest")
    service = ctx.service
    detail = await ctx.run(service.image, digest)
    if detail is None:
        raise ApiError(404, f"no image {digest} is known to this service")
    try:
        decision = triage_decision(form, digest=digest, repository=detail.repository,
                                   today=service.store.clock().date())
        await ctx.run(service.triage, decision, actor=ctx.actor)
    except (UsageError, ApiError) as exc:
        data = await ctx.run(build.triage, service, digest, form.get("advisory", ""),
                             form.get("package", ""))
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        if data is None:
            raise ApiError(400, message) from None
        return ctx.render("triage.html", data=data, error=message, form=form, status=400,
                          title="Triage")
    anchor = build.finding_view_anchor(decision.advisory_id, form.get("package_name", ""))
    return RedirectResponse(f"/images/{digest}?done={decision.action.value}#{anchor}",
                            status_code=303, headers=security_headers())


# -- settings (admin) -------------------------------------------------------------------------


async def _settings_page(ctx: PageContext, *, status: int = 200, **extra: Any) -> Response:
    data = await ctx.run(build.settings, ctx.service)
    return ctx.render("settings.html", data=data, status=status, title="Settings", **extra)


@page(Scope.ADMIN)
async def create_token(ctx: PageContext) -> Response:
    form = await ctx.form()
    name = form.get("name", "").strip()
    try:
        scope = Scope(form.get("scope", ""))
    except ValueError:
        return await _settings_page(ctx, status=400, message="choose a scope: read, write or "
                                                             "admin", outcome="failed")
    try:
        _, token = await ctx.run(ctx.service.create_token, name, scope, actor=ctx.actor)
    except ApiError as exc:
        return await _settings_page(ctx, status=exc.status, message=exc.message,
                                    outcome="failed")
    return await _settings_page(ctx, status=201, new_token=token, new_token_name=name,
                                message=f"token {name!r} created with scope {scope.value}; "
                                        "copy it now, it is not shown again", outcome="ok")


@page(Scope.ADMIN)
async def revoke_token(ctx: PageContext) -> Response:
    form = await ctx.form()
    name = form.get("name", "")
    done = await ctx.run(ctx.service.revoke_token, name, actor=ctx.actor,
                         reason=form.get("reason", "revoked on the settings page"))
    if not done:
        return await _settings_page(ctx, status=404, message=f"no live token named {name!r}",
                                    outcome="failed")
    return await _settings_page(ctx, message=f"token {name!r} revoked; its sessions ended",
                                outcome="ok")


def test_event(actor: str, channel: str, now: dt.datetime) -> dict[str, Any]:
    """What "send test event" sends: an event of type ``test`` that names no real image."""
    return {"event": "test", "uid": str(uuid.uuid4()),
            "image": {"digest": "sha256:" + "0" * 64, "repository": "hullcheck/test-event",
                      "tags": [], "owners": [], "deployments": []},
            "summary": f"a test event for channel {channel}, sent by {actor} from the "
                       "settings page", "occurredAt": now.isoformat().replace("+00:00", "Z")}


@page(Scope.ADMIN)
async def test_channel(ctx: PageContext) -> Response:
    """Send one test event through a channel now (not through the outbox: the point is to
    see at once whether the channel works) and say how it went."""
    form = await ctx.form()
    name = form.get("channel", "")
    service = ctx.service
    channel = service.config.channels.get(name)
    if channel is None:
        return await _settings_page(ctx, status=404, message=f"no channel named {name!r}",
                                    outcome="failed")
    event = test_event(ctx.actor, name, service.store.clock())

    def send() -> tuple[bool, str]:
        result = channel.send([event], f"{event['uid']}:{name}")
        service.store.audit(actor=ctx.actor, action="channel.test", target=f"channel:{name}",
                            details={"outcome": result.outcome.value, "detail": result.detail})
        return result.ok, result.detail

    ok, detail = await ctx.run(send)
    return await _settings_page(ctx, status=200 if ok else 502, outcome="ok" if ok else "failed",
                                message=f"test event to {name}: "
                                        f"{'delivered' if ok else 'not delivered'} ({detail})")


@page(Scope.ADMIN)
async def retry_dead_letter(ctx: PageContext) -> Response:
    form = await ctx.form()
    text = form.get("delivery", "")
    if not text.isdigit() or len(text) > 18:
        raise ApiError(400, "the form names no delivery")
    done = await ctx.run(ctx.service.retry_delivery, int(text), actor=ctx.actor)
    if not done:
        return await _settings_page(ctx, status=404, message=f"no dead letter {text}",
                                    outcome="failed")
    return await _settings_page(ctx, message=f"delivery {text} queued again", outcome="ok")

