"""Every endpoint needs a bearer token (401 anonymous, unknown or revoked) and its scope
(403 below it: read < write < admin), checked on a real server before any body is read."""

from __future__ import annotations

import re

import httpx
import pytest

from hullcheck.cli.main import main
from hullcheck.fleet.model import Scope
from hullcheck.server.api_routes import ENDPOINTS, Endpoint
from tests.server.api.support import Running

PATH_VALUES = {"digest": "sha256:" + "0" * 64, "job_id": "1", "delivery_id": "1"}
BELOW = {Scope.READ: (), Scope.WRITE: (Scope.READ,), Scope.ADMIN: (Scope.READ, Scope.WRITE)}


def concrete(e: Endpoint) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES[m.group(1)], e.path)


def call(api: Running, e: Endpoint, headers: dict[str, str]) -> httpx.Response:
    return api.http.request(e.method, api.url + "/api/v1" + concrete(e), headers=headers,
                            content=b"{}")


def test_the_table_has_each_scope_and_every_write_is_not_read() -> None:
    assert {e.scope for e in ENDPOINTS} == set(Scope)
    assert all(e.scope is not Scope.READ for e in ENDPOINTS if e.method == "POST")
    assert {e.name for e in ENDPOINTS if e.scope is Scope.ADMIN} == {
        "updateAdvisories", "deadLetters", "retryDeadLetter"}


def test_every_endpoint_refuses_anonymous_malformed_and_unknown_tokens(api: Running) -> None:
    for e in ENDPOINTS:
        for headers, why in (({}, "needs 'Authorization: Bearer TOKEN'"),
                             ({"Authorization": f"Basic {api.tokens['admin']}"},
                              "only 'Authorization: Bearer TOKEN'"),
                             ({"Authorization": "Bearer bad token\x01"}, "malformed"),
                             ({"Authorization": "Bearer hc_" + "x" * 43}, "not known")):
            r = call(api, e, headers)
            assert r.status_code == 401, (e.name, headers, r.text)
            assert r.headers["www-authenticate"] == 'Bearer realm="hullcheck"'
            assert why in r.json()["error"], (e.name, r.json())


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_each_scope_below_the_endpoints_is_refused_and_its_own_is_let_in(
        api: Running, endpoint: Endpoint) -> None:
    for scope in BELOW[endpoint.scope]:
        r = call(api, endpoint, {"Authorization": f"Bearer {api.tokens[scope.value]}"})
        assert r.status_code == 403, (scope, r.text)
        assert r.json()["error"] == (f"token '{scope.value}-token' has scope {scope.value}; "
                                     f"this call needs {endpoint.scope.value}")
    for scope in Scope:
        if scope.allows(endpoint.scope):
            r = call(api, endpoint, {"Authorization": f"Bearer {api.tokens[scope.value]}"})
            assert r.status_code not in (401, 403), (scope, r.text)


def test_a_token_revoked_with_the_cli_stops_working_at_once(api: Running, tmp_path,
                                                             capsys) -> None:
    created = main(["token", "create", "--data-dir", str(tmp_path / "data"), "--name", "ci",
                    "--scope", "write"])
    assert created == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("hc_") and len(token) == 46
    assert api.request("GET", "/images", token=token,
                       params={"repository": "x"}).status_code == 200
    assert main(["token", "revoke", "--data-dir", str(tmp_path / "data"), "--name", "ci",
                 "--reason", "left the team"]) == 0
    r = api.request("GET", "/images", token=token, params={"repository": "x"})
    assert r.status_code == 401
    assert r.json()["error"] == "the token is not known or was revoked"
    # ... and the audit log says who revoked it and why
    entries = api.get("/audit", target="token:ci").json()["entries"]
    assert [(e["action"], e["reason"]) for e in entries][:2] == [
        ("token.revoke", "left the team"), ("token.create", "")]
    assert entries[0]["actor"].startswith("cli")


def test_unknown_routes_and_methods_answer_json(api: Running) -> None:
    r = api.request("GET", "/nothing-here")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint: /api/v1/nothing-here"}
    r = api.request("DELETE", "/images")
    assert r.status_code == 405 and "DELETE is not allowed" in r.json()["error"]
