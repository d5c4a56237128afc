"""The pages people look at (GET): fleet, image, advisory, search, a finding's triage form,
settings, and the static assets. Each parses its request, gathers its data in a worker
thread (``build``) and renders a template; none changes anything."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from hullcheck.fleet.model import Scope
from hullcheck.fleet.overview import Filter
from hullcheck.report.svg import trend_chart
from hullcheck.server.api_http import ApiError
from hullcheck.server.pages import build
from hullcheck.server.pages.web import (
    STATIC,
    PageContext,
    markup,
    page,
    security_headers,
)

MAX_QUERY = 300  # characters of a search or filter value
MAX_PAGE = 10_000
# The files /static/ serves, and their types: nothing else is reachable through it.
ASSETS = {"app.css": "text/css; charset=utf-8",
          "htmx.min.js": "text/javascript; charset=utf-8",
          "htmx-LICENSE.txt": "text/plain; charset=utf-8",
          "favicon.svg": "image/svg+xml"}


def _param(request: Request, name: str, *, limit: int = MAX_QUERY) -> str:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name!r} is given {len(values)} times")
    value = values[0].strip() if values else ""
    if len(value) > limit or not value.isprintable():
        raise ApiError(400, f"query parameter {name!r}: at most {limit} printable characters")
    return value


def _number(request: Request, name: str) -> int:
    text = _param(request, name, limit=6)
    if not text:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ApiError(400, f"query parameter {name!r}: a page number from 1 to {MAX_PAGE}")
    return int(text)


def _digest(request: Request) -> str:
    digest = str(request.path_params["digest"])
    if not build.DIGEST.fullmatch(digest):
        raise ApiError(404, f"{digest[:80]!r} is not an image digest (sha256:<64 hex digits>)")
    return digest


@page(Scope.READ)
async def fleet(ctx: PageContext) -> Response:
    r = ctx.request
    flt = Filter(repository=_param(r, "repository"), owner=_param(r, "owner"),
                 cluster=_param(r, "cluster"), namespace=_param(r, "namespace"))
    data = await ctx.run(build.fleet, ctx.service, flt, page=_number(r, "page"))
    return ctx.render("fleet.html", data=data, chart=markup(trend_chart(data.trend)),
                      title="Fleet")


@page(Scope.READ)
async def image(ctx: PageContext) -> Response:
    digest = _digest(ctx.request)
    text = _param(ctx.request, "pq")
    data = await ctx.run(build.image, ctx.service, digest, text=text,
                         page=_number(ctx.request, "ppage"))
    if data is None:
        raise ApiError(404, f"no image {digest} is known to this service")
    return ctx.render("image.html", data=data, done=_param(ctx.request, "done", limit=40),
                      title=f"{data.detail.repository} {data.detail.digest[:19]}")


@page(Scope.READ)
async def packages(ctx: PageContext) -> Response:
    """The packages table alone: what the page's search box swaps in (htmx)."""
    digest = _digest(ctx.request)
    text = _param(ctx.request, "pq")
    page_no = _number(ctx.request, "ppage")
    rows, total, pages = await ctx.run(build.packages_page, ctx.service, digest, text, page_no)
    return ctx.render("_packages.html", digest=digest, packages=rows, total=total,
                      query_text=text, page_no=page_no, pages=pages)


@page(Scope.READ)
async def advisory(ctx: PageContext) -> Response:
    name = str(ctx.request.path_params["advisory"])
    if not name or len(name) > 200 or not name.isprintable():
        raise ApiError(404, "not an advisory id")
    data = await ctx.run(build.advisory, ctx.service, name)
    if not data.known and not data.hits:
        return ctx.render("advisory.html", data=data, status=404, title=name)
    return ctx.render("advisory.html", data=data, title=data.id)


@page(Scope.READ)
async def search(ctx: PageContext) -> Response:
    q = _param(ctx.request, "q")
    data = await ctx.run(build.search, ctx.service, q)
    if data.redirect:
        return RedirectResponse(data.redirect, status_code=303, headers=security_headers())
    return ctx.render("search.html", data=data, title=f"Search {q}" if q else "Search")


@page(Scope.WRITE)
async def triage_form(ctx: PageContext) -> Response:
    digest = _digest(ctx.request)
    advisory_id = _param(ctx.request, "advisory")
    purl = _param(ctx.request, "package", limit=2000)
    data = await ctx.run(build.triage, ctx.service, digest, advisory_id, purl)
    if data is None:
        raise ApiError(404, f"image {digest} has no finding {advisory_id} on {purl[:200]}")
    return ctx.render("triage.html", data=data, title=f"Triage {advisory_id}")


@page(Scope.ADMIN)
async def settings(ctx: PageContext) -> Response:
    data = await ctx.run(build.settings, ctx.service)
    return ctx.render("settings.html", data=data, title="Settings")


@page(Scope.READ)
async def static(ctx: PageContext) -> Response:
    """A file of the pages (stylesheet, htmx): for signed-in browsers only, like the pages."""
    name = str(ctx.request.path_params["name"])
    if name not in ASSETS:
        raise ApiError(404, f"no asset {name[:80]!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name],
                        headers=security_headers(cache=True))


async def no_icon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on their own, signed in or not: nothing to read here
    (the pages name /static/favicon.svg)."""
    return Response(status_code=204, headers=security_headers())
