"""Who may see and do what on the pages: sessions (cookie flags, logout and revocation end
them in the store), scopes, CSRF and cross-site posts, the Content-Security-Policy and what
the HTML may contain under it, and hostile values shown as text."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.pages.support import HOSTILE, Site, csrf_of, login, post_form, push, secret_image

URLLIB3 = "pkg:pypi/urllib3@1.24.1"


def pages(site: Site) -> list[str]:
    web = site.digests["web"]
    return ["/", f"/images/{web}", f"/images/{web}/packages?pq=url", "/advisories/CVE-2019-11324",
            "/search?q=urllib3", f"/images/{web}/triage?advisory=CVE-2019-11324&package={URLLIB3}",
            "/settings", "/static/app.css", "/static/htmx.min.js", "/static/favicon.svg"]


def test_no_page_or_asset_is_readable_without_a_session(site: Site) -> None:
    with site.client() as anonymous:
        for path in pages(site):
            r = anonymous.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next=/"), path
            assert site.digests["web"] not in r.text and "urllib3" not in r.text
        for path in ("/triage", "/logout", "/settings/tokens"):
            r = anonymous.post(path, data={"csrf": "x"})
            assert r.status_code == 401 and "not signed in" in r.text
        # htmx asking for a fragment gets the refusal itself, not a login page to swap in
        r = anonymous.get(pages(site)[2], headers={"HX-Request": "true"})
        assert r.status_code == 401


def test_a_token_signs_in_with_a_strict_session_cookie(site: Site) -> None:
    with site.client() as c:
        r = login(c, site.tokens["read"])
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and v.startswith("hullcheck_session="))
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain HTTP here; under TLS the cookie is __Host-, Secure
        sid = c.cookies["hullcheck_session"]
        assert sid.startswith("hs_") and site.tokens["read"] not in cookie
        assert c.get("/").status_code == 200
    with site.service.store.read() as conn:  # the store keeps the session's hash, not its id
        stored = conn.exec_driver_sql("SELECT id_sha256 FROM sessions").scalars().all()
    assert hashlib.sha256(sid.encode()).hexdigest() in stored and sid not in stored


def test_behind_a_tls_proxy_the_cookie_is_secure_and_host_bound(site: Site) -> None:
    """A TLS-terminating proxy on this host says so (X-Forwarded-Proto, which uvicorn takes
    from 127.0.0.1 only): the cookie becomes ``__Host-…; Secure``."""
    with site.client() as c:
        proxy = {"X-Forwarded-Proto": "https"}
        form = c.get("/login", headers=proxy)
        nonce = re.search(r'name="login" value="([^"]+)"', form.text)
        assert nonce is not None and "secure" in form.headers["set-cookie"].lower()
        # a Secure cookie is not sent back over plain http: the proxy would; say it by hand
        c.cookies.set("hullcheck_login", nonce.group(1))
        r = c.post("/login", headers={**proxy, "Origin": "https://" + c.base_url.netloc.decode()},
                   data={"login": nonce.group(1), "token": site.tokens["read"]})
        assert r.status_code == 303, r.text
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and v.startswith("__Host-hullcheck_session="))
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags
        assert not any(f.startswith("domain") for f in flags)


def test_a_wrong_token_or_a_stale_form_signs_nobody_in(site: Site) -> None:
    with site.client() as c:
        r = login(c, "hc_" + "A" * 43)
        assert r.status_code == 401 and "not known or was revoked" in r.text
        assert "hullcheck_session" not in c.cookies
        # the login form's own CSRF value: a form posted without the cookie it came with
        c.get("/login")
        r = c.post("/login", data={"login": "forged", "token": site.tokens["admin"]})
        assert r.status_code == 403 and "hullcheck_session" not in c.cookies
        # an API token the API refuses as malformed is refused here too
        r = login(c, "not a token <b>")
        assert r.status_code == 401 and "<b>" not in r.text


def test_logout_ends_the_session_in_the_store(site: Site) -> None:
    with site.client() as c:
        login(c, site.tokens["write"])
        sid = c.cookies["hullcheck_session"]
        r = post_form(c, "/logout", {})
        assert r.status_code == 303 and r.headers["location"] == "/login?done=logout"
        assert "hullcheck_session" not in c.cookies
    with site.client() as replay:  # the old cookie, kept by someone: refused
        replay.cookies.set("hullcheck_session", sid)
        r = replay.get("/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    actions = [e.action for e in site.service.audit_log(target="token:write-token")]
    assert actions[:2] == ["session.logout", "session.login"]


def test_revoking_a_token_ends_its_sessions(fresh: Site) -> None:
    with fresh.client() as c:
        login(c, fresh.tokens["read"])
        assert c.get("/").status_code == 200
        fresh.service.revoke_token("read-token", actor="test")
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_scopes_read_looks_write_triages_admin_settles(site: Site) -> None:
    web = site.digests["web"]
    decision = {"digest": web, "advisory": "CVE-2019-11324", "package": URLLIB3,
                "action": "acknowledge"}
    with site.signed_in("read") as reader:
        assert reader.get("/").status_code == 200
        assert reader.get("/settings").status_code == 403
        assert "/triage?" not in reader.get(f"/images/{web}").text  # no button it cannot use
        r = post_form(reader, "/triage", decision)
        assert r.status_code == 403 and "needs write" in r.text
    with site.signed_in("write") as writer:
        assert writer.get("/settings").status_code == 403
        assert "Settings" not in writer.get("/").text
        r = post_form(writer, "/settings/tokens", {"name": "x", "scope": "admin"})
        assert r.status_code == 403
    assert not site.service.decisions(digest=web)
    assert sorted(t.name for t in site.service.list_tokens()) == ["admin-token", "read-token",
                                                                "write-token"]


def test_forms_without_the_csrf_token_or_from_another_site_change_nothing(fresh: Site) -> None:
    web = fresh.digests["web"]
    form = {"digest": web, "advisory": "CVE-2019-11324", "package": URLLIB3,
            "action": "acknowledge", "reason": "forged"}
    with fresh.signed_in("admin") as c:
        origin = {"Origin": str(c.base_url).rstrip("/")}
        r = c.post("/triage", data=form, headers=origin)
        assert r.status_code == 403 and "CSRF" in r.text
        r = c.post("/triage", data={**form, "csrf": "0" * 64}, headers=origin)
        assert r.status_code == 403
        token = csrf_of(c.get("/").text)
        r = c.post("/triage", data={**form, "csrf": token},
                   headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "another site" in r.text
        r = c.post("/triage", data={**form, "csrf": token},
                   headers={"Referer": "http://evil.example/page"})
        assert r.status_code == 403
        # the same form from our own page goes through: the checks above were the refusal
        r = c.post("/triage", data={**form, "csrf": token}, headers=origin)
        assert r.status_code == 303
    decisions = fresh.service.decisions(digest=web)
    assert [(d.action, d.reason) for d in decisions] == [("acknowledge", "forged")]
    assert [e.action for e in fresh.service.audit_log(target=f"image:{web}")
            if e.action.startswith("triage")] == ["triage.acknowledge"]


def test_another_sessions_csrf_token_does_not_pass(site: Site) -> None:
    with site.signed_in("admin") as mine, site.signed_in("admin") as theirs:
        stolen = csrf_of(theirs.get("/").text)
        assert stolen != csrf_of(mine.get("/").text)
        r = mine.post("/settings/tokens", data={"csrf": stolen, "name": "x", "scope": "read"})
        assert r.status_code == 403


def _inline_violations(html: str) -> list[str]:
    found = []
    for script in re.findall(r"<script\b[^>]*>", html, re.I):
        if "src=" not in script:
            found.append(script)
    found += re.findall(r"<[^>]+\sstyle=", html, re.I)
    found += re.findall(r"<[^>]+\son[a-z]+=", html, re.I)
    found += re.findall(r"(?:href|src|action)=\"(?:https?:)?//[^\"]*\"", html, re.I)  # no CDN
    return found


def test_every_page_has_a_strict_csp_and_nothing_inline_or_remote(site: Site) -> None:
    with site.signed_in("admin") as c:
        for path in pages(site)[:7]:
            r = c.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self';" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
            assert "<style" not in r.text
            assert _inline_violations(r.text) == [], path
        asset = c.get("/static/htmx.min.js")
        assert asset.headers["content-type"].startswith("text/javascript")
        assert c.get("/static/../web.py").status_code in (303, 404)
        assert c.get("/static/login.css").status_code == 404  # served inline to /login only
    with site.client() as anonymous:
        r = anonymous.get("/login")
        style = re.search(r"<style>(.*?)</style>", r.text, re.S)
        assert style is not None
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in r.headers["content-security-policy"]
        assert _inline_violations(r.text) == []


def test_the_checker_above_sees_inline_code() -> None:
    """The HTML checks can fail: each kind of inline code is caught."""
    assert len(_inline_violations('<script>x()</script><p style="a"><a onclick="y">'
                                  '<img src="https://cdn.example/x.js">')) == 4


def test_hostile_values_are_shown_as_text(fresh: Site) -> None:
    """An image label (its authors: the owner) carrying markup is escaped everywhere."""
    fresh.service.ingest_deployments(
        b'[{"cluster": "<b>prod</b>", "namespace": "n", "workload": "w", "digest": "'
        + fresh.digests["web"].encode() + b'"}]', requested_by="test")
    with pytest.MonkeyPatch.context() as mp:
        digest = push(fresh, fresh.service.ctx.data_dir.parent, "registry.example.org/x/y:1",
                      secret_image(), mp)
    with fresh.signed_in("admin") as c:
        for path in (f"/images/{digest}", f"/images/{fresh.digests['web']}",
                     "/?cluster=%3Cb%3Eprod%3C%2Fb%3E", "/search?q=registry.example.org/x/y:1"):
            html = c.get(path).text
            assert HOSTILE not in html and "<b>prod</b>" not in html, path
        assert "&lt;script&gt;" in c.get(f"/images/{digest}").text
        assert "&lt;b&gt;prod&lt;/b&gt;" in c.get(f"/images/{fresh.digests['web']}").text


def test_bad_parameters_are_one_line_pages(site: Site) -> None:
    with site.signed_in("read") as c:
        r = c.get("/images/sha256:nothex")
        assert r.status_code == 404 and "not an image digest" in r.text
        r = c.get("/images/sha256:" + "0" * 64)
        assert r.status_code == 404 and "no image" in r.text
        r = c.get("/?page=0")
        assert r.status_code == 400 and "page number" in r.text
        r = c.get("/search", params={"q": "x\x00y"})
        assert r.status_code == 400 and "printable" in r.text
        assert "Traceback" not in r.text

