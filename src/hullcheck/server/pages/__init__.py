"""The monitoring service's web pages: server-rendered HTML (Jinja2) in the same app, process
and tokens as the REST API (docs/pages.md).

    app = pages.create_app(service, settings=ApiSettings())   # the API and the pages

| path | who | what |
|---|---|---|
| ``/login``, ``/logout`` | anyone / signed in | a token in, a session cookie out; and back |
| ``/`` | read | the fleet: at risk first, counts, what changed, the trend, filters |
| ``/images/{digest}`` | read | one image: where it runs, base, signatures, policy, findings, ... |
| ``/advisories/{id}`` | read | one advisory (any alias): what it says, where it ships |
| ``/search?q=`` | read | a purl, a package name, an advisory, an image reference or digest |
| ``/images/{digest}/triage``, ``/triage`` | write | acknowledge, assign, VEX, waive a finding |
| ``/settings`` and its forms | admin | tokens, channels (send a test event), dead letters |
| ``/static/{name}`` | read | the stylesheet and the vendored htmx |

Every page and asset needs a live session (``web.page``); ``web`` says how sessions, CSRF
and the Content-Security-Policy work; ``build`` gathers each page's data in a worker
thread; the templates render the report types of ``report.fleet`` and ``report.svg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from hullcheck.monitor.service import Service
    from hullcheck.server.api import ApiSettings


def routes() -> list[BaseRoute]:
    """The pages' routes, for ``server.api.create_app(..., extra_routes=routes())``."""
    from hullcheck.server.pages import actions, views

    return [
        Route("/login", actions.login_form, methods=["GET"], name="login_form"),
        Route("/login", actions.login, methods=["POST"], name="login"),
        Route("/logout", actions.logout, methods=["POST"], name="logout"),
        Route("/", views.fleet, methods=["GET"], name="fleet"),
        Route("/images/{digest}", views.image, methods=["GET"], name="image"),
        Route("/images/{digest}/packages", views.packages, methods=["GET"], name="packages"),
        Route("/images/{digest}/triage", views.triage_form, methods=["GET"], name="triage_form"),
        Route("/advisories/{advisory}", views.advisory, methods=["GET"], name="advisory"),
        Route("/search", views.search, methods=["GET"], name="search"),
        Route("/triage", actions.triage, methods=["POST"], name="triage"),
        Route("/settings", views.settings, methods=["GET"], name="settings"),
        Route("/settings/tokens", actions.create_token, methods=["POST"], name="create_token"),
        Route("/settings/tokens/revoke", actions.revoke_token, methods=["POST"],
              name="revoke_token"),
        Route("/settings/channels/test", actions.test_channel, methods=["POST"],
              name="test_channel"),
        Route("/settings/dead-letters/retry", actions.retry_dead_letter, methods=["POST"],
              name="retry_dead_letter"),
        Route("/static/{name}", views.static, methods=["GET"], name="static"),
        Route("/favicon.ico", views.no_icon, methods=["GET"], name="favicon"),
    ]


def create_app(service: Service, *, settings: ApiSettings | None = None) -> Starlette:
    """The service's app: the REST API under /api/v1 and the pages."""
    from hullcheck.server.api import create_app as api_app

    return api_app(service, settings=settings, extra_routes=routes())
