"""Respond over HTTP: blast radius (visible or only in a lower layer, with tags, deployments
and owners), deployments in both forms, triage -> audit log -> OpenVEX export, and the
hullcheck query command against the running service."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from tests.fixtures.images import write
from tests.server.api.shapes import check
from tests.server.api.support import (
    URLLIB3_ADVISORY,
    URLLIB3_CVE,
    URLLIB3_PURL,
    Running,
    drain,
    python_image,
)

REPO = "registry.example.org/shop"


def _days(n: int) -> dt.date:
    return dt.date.today() + dt.timedelta(days=n)


def pushed(api: Running, tmp: Path, name: str, image, monkeypatch, capsys) -> str:
    ref = write(image, tmp / name.replace("/", "_").replace(":", "_"))
    monkeypatch.setenv("HULLCHECK_TOKEN", api.tokens["write"])
    assert main(["push", ref, "--server", api.url, "--name", name, "-q"]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def fleet(api: Running, tmp_path: Path, monkeypatch, capsys) -> dict[str, str]:
    """web ships urllib3 1.24.1 visibly, worker only in a lower layer (deleted later),
    other ships 1.26.0; web runs in prod (a row), worker in staging (a kubectl pod list)."""
    digests = {
        "web": pushed(api, tmp_path, f"{REPO}/web:1.0", python_image(
            {"urllib3": "1.24.1"}, marker="web"), monkeypatch, capsys),
        "worker": pushed(api, tmp_path, f"{REPO}/worker:2.0", python_image(
            {"six": "1.16.0"}, hide={"urllib3": "1.24.1"}, marker="worker"),
            monkeypatch, capsys),
        "other": pushed(api, tmp_path, f"{REPO}/other:3.0", python_image(
            {"urllib3": "1.26.0"}, marker="other"), monkeypatch, capsys),
    }
    rows = [{"cluster": "prod", "namespace": "shop", "workload": "web", "container": "app",
             "digest": digests["web"]}]
    r = api.post("/deployments", body=rows)
    assert r.status_code == 200 and check(r.json(), "DeploymentsWritten") == {
        "clusters": {"prod": 1}}
    pods = {"kind": "List", "items": [{
        "metadata": {"name": "worker-7f9c-abcde", "namespace": "jobs",
                     "labels": {"pod-template-hash": "7f9c"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "worker-7f9c"}]},
        "status": {"containerStatuses": [{
            "name": "worker", "imageID": f"{REPO}/worker@{digests['worker']}"}]}}]}
    r = api.post("/deployments", body=pods, params={"cluster": "staging"})
    assert r.status_code == 200 and r.json() == {"clusters": {"staging": 1}}
    return digests


def test_blast_radius_by_purl_finds_visible_and_lower_layer_copies(
        api: Running, fleet: dict[str, str]) -> None:
    answer = check(api.get("/search", purl=URLLIB3_PURL).json(), "SearchResult")
    by_digest = {h["digest"]: h for h in answer["images"]}
    assert set(by_digest) == {fleet["web"], fleet["worker"]}
    web, worker = by_digest[fleet["web"]], by_digest[fleet["worker"]]
    assert (web["repository"], web["tags"], web["visible"]) == (f"{REPO}/web", ["1.0"], True)
    assert (worker["repository"], worker["tags"], worker["visible"]) == (
        f"{REPO}/worker", ["2.0"], False)
    assert [(p["version"], p["visible"], p["layer"]) for p in worker["packages"]] == [
        ("1.24.1", False, 1)]
    assert [(d["cluster"], d["namespace"], d["workload"], d["container"])
            for d in web["deployments"]] == [("prod", "shop", "web", "app")]
    assert [(d["cluster"], d["namespace"], d["workload"]) for d in worker["deployments"]] == [
        ("staging", "jobs", "worker")]
    assert web["owners"] == worker["owners"] == ["team-api@example.org"]

    # By name with a version range: the other image's 1.26.0 is outside it, then inside.
    narrow = api.get("/search", purl="pkg:pypi/urllib3", versions="<1.24.2").json()["images"]
    assert {h["digest"] for h in narrow} == {fleet["web"], fleet["worker"]}
    wide = api.get("/search", purl="pkg:pypi/urllib3", versions=">=1.0").json()["images"]
    assert {h["digest"] for h in wide} == set(fleet.values())
    assert api.get("/search", purl="pkg:pypi/urllib3@9.9.9").json() == {"images": []}


def test_blast_radius_by_advisory_answers_any_alias(api: Running, fleet: dict[str, str]) -> None:
    for name in (URLLIB3_ADVISORY, URLLIB3_CVE, URLLIB3_CVE.lower(), "GHSA-mh33-7rrq-662w"):
        hits = check(api.get("/search", advisory=name).json(), "SearchResult")["images"]
        # the worker's copy was deleted by a later layer: it still ships, so it counts
        assert {h["digest"] for h in hits} == {fleet["web"], fleet["worker"]}, name
        web = next(h for h in hits if h["digest"] == fleet["web"])
        assert [f["package"]["purl"] for f in web["findings"]] == [URLLIB3_PURL]
        assert web["deployments"][0]["cluster"] == "prod"


def test_search_refuses_ambiguous_or_malformed_questions(api: Running) -> None:
    for params, message in (
        ({}, "give one of ?purl= or ?advisory="),
        ({"purl": URLLIB3_PURL, "advisory": URLLIB3_CVE}, "give one of ?purl= or ?advisory="),
        ({"purl": "urllib3"}, "purl 'urllib3' does not start with 'pkg:'"),
        ({"advisory": URLLIB3_CVE, "versions": "<2"}, "?versions= narrows a ?purl= search"),
        ({"purl": URLLIB3_PURL, "limit": "0"}, "query parameter 'limit': a whole number from 1 to 10000"),
    ):
        r = api.get("/search", **params)
        assert r.status_code == 400 and r.json() == {"error": message}, params


def test_triage_is_audited_marks_the_finding_and_exports_as_openvex(
        api: Running, fleet: dict[str, str]) -> None:
    web = fleet["web"]
    decision = {"scope": "image", "target": web, "advisory": URLLIB3_CVE,
                "package": URLLIB3_PURL, "action": "vex", "vexStatus": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "reason": "the app never calls urllib3 with custom CA certificates"}
    r = api.post("/triage", body=decision)
    assert r.status_code == 201, r.text
    assert check(r.json()["decision"], "Decision")["vexStatus"] == "not_affected"
    assert api.post("/triage", body={"scope": "repository", "target": f"{REPO}/web",
                                     "advisory": URLLIB3_CVE, "action": "assign",
                                     "assignee": "alice", "reason": "owns it"}
                    ).status_code == 201

    entries = check(api.get("/audit", target=f"image:{web}").json(), "AuditLog")["entries"]
    vex = next(e for e in entries if e["action"] == "triage.vex")
    assert (vex["actor"], vex["reason"]) == ("write-token", decision["reason"])
    assert vex["details"]["vexJustification"] == "vulnerable_code_not_in_execute_path"
    assigned = api.get("/audit", target=f"repository:{REPO}/web").json()["entries"]
    assert [(e["action"], e["actor"], e["details"]["assignee"]) for e in assigned] == [
        ("triage.assign", "write-token", "alice")]

    drain(api.service)  # the VEX decision re-marks the image's findings
    image = api.get(f"/images/{web}").json()
    [finding] = image["findings"]
    assert finding["suppressed"] is not None, finding
    assert image["summary"]["unknown"] == 0
    assert {(t["action"], t["scope"]) for t in image["triage"]} == {
        ("vex", "image"), ("assign", "repository")}
    listed = api.get("/images", repository=f"{REPO}/web").json()["images"]
    assert sum(listed[0]["findings"].values()) == 0  # suppressed: not counted as open

    doc = check(api.get("/vex", repository=f"{REPO}/web").json(), "OpenVEX")
    assert doc["@context"].startswith("https://openvex.dev/ns")
    [statement] = doc["statements"]
    assert statement["vulnerability"]["name"] == URLLIB3_CVE
    assert statement["status"] == "not_affected"
    assert statement["justification"] == "vulnerable_code_not_in_execute_path"
    assert statement["impact_statement"] == decision["reason"]
    assert statement["products"] == [{"@id": f"{REPO}/web@{web}",
                                      "subcomponents": [{"@id": URLLIB3_PURL}]}]


@pytest.mark.parametrize(("change", "message"), [
    ({"action": "vex", "vexStatus": None}, "vex needs 'vexStatus'"),
    ({"vexStatus": "not_affected", "justification": None}, "not_affected needs a 'justification'"),
    ({"justification": "because"}, "'justification' must be one of component_not_present"),
    ({"scope": "image", "target": "sha256:abc"}, "target 'sha256:abc' is not sha256:<64 hex"),
    ({"action": "assign", "vexStatus": None, "justification": None},
     "assign needs 'assignee'"),
    ({"package": "urllib3"}, "'package' must be a purl"),
    ({"reason": "a\x1b[31mred"}, "'reason' must be at most 1000 printable characters"),
    ({"extra": 1}, "unknown field 'extra'"),
    ({"advisory": 7}, "'advisory' must be a string"),
    ({"action": "waive", "vexStatus": None}, "waive needs 'expires'"),
    ({"expires": "2030-01-01"}, "'expires' belongs to action waive"),
    ({"action": "waive", "vexStatus": None, "expires": "next week"},
     "'expires' must be a date (YYYY-MM-DD)"),
    ({"action": "waive", "vexStatus": None, "expires": str(_days(-1))}, "has passed"),
    ({"action": "waive", "vexStatus": None, "expires": str(_days(400))}, "within 366 days"),
    ({"action": "waive", "vexStatus": None, "expires": str(_days(30)), "reason": " "},
     "say why the risk is accepted"),
])
def test_a_malformed_triage_decision_is_one_line_and_records_nothing(
        api: Running, fleet: dict[str, str], change: dict, message: str) -> None:
    decision = {"scope": "image", "target": fleet["web"], "advisory": URLLIB3_CVE,
                "action": "vex", "vexStatus": "affected", "reason": "x"}
    decision.update(change)
    decision = {k: v for k, v in decision.items() if v is not None}
    r = api.post("/triage", body=decision)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert "\n" not in r.json()["error"] and "\x1b" not in r.text
    assert api.get("/triage", digest=fleet["web"]).json() == {"decisions": []}
    assert [e for e in api.get("/audit").json()["entries"] if e["action"].startswith("triage")
            ] == []


def test_a_waiver_with_an_expiry_suppresses_the_finding_until_then(
        api: Running, fleet: dict[str, str]) -> None:
    web, until = fleet["web"], _days(30)
    r = api.post("/triage", body={"scope": "image", "target": web, "advisory": URLLIB3_CVE,
                                  "package": URLLIB3_PURL, "action": "waive",
                                  "expires": until.isoformat(), "reason": "fixed in 2.0 next sprint"})
    assert r.status_code == 201, r.text
    assert check(r.json()["decision"], "Decision")["expires"] == until.isoformat()
    [listed] = api.get("/triage", digest=web).json()["decisions"]
    assert (listed["action"], listed["expires"]) == ("waive", until.isoformat())
    drain(api.service)
    [finding] = api.get(f"/images/{web}").json()["findings"]
    assert finding["suppressed"] is not None and until.isoformat() in json.dumps(
        finding["suppressed"]), finding


def test_triage_of_an_unknown_image_is_refused(api: Running) -> None:
    r = api.post("/triage", body={"scope": "image", "target": "sha256:" + "1" * 64,
                                  "advisory": URLLIB3_CVE, "action": "acknowledge"})
    assert r.status_code == 400
    assert r.json()["error"] == f"triage: no image sha256:{'1' * 64} in the service"


def test_hullcheck_query_answers_from_the_service(api: Running, fleet: dict[str, str],
                                                  monkeypatch, capsys) -> None:
    monkeypatch.setenv("HULLCHECK_TOKEN", api.tokens["read"])
    assert main(["query", "--server", api.url, "--purl", URLLIB3_PURL, "-o", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {h["digest"] for h in answer["images"]} == {fleet["web"], fleet["worker"]}

    assert main(["query", "--server", api.url, "--purl", URLLIB3_PURL, "-o", "table"]) == 0
    table = capsys.readouterr().out
    assert "urllib3 1.24.1 (lower layer)" in table and "prod/shop/web" in table
    assert "staging/jobs/worker" in table and "2 images" in table

    assert main(["query", "--server", api.url, "--advisory", URLLIB3_CVE, "-o", "table"]) == 0
    assert f"{fleet['web'][:19]}" in capsys.readouterr().out

    assert main(["query", "--server", api.url, "--image", fleet["web"], "-o", "table"]) == 0
    table = capsys.readouterr().out
    assert URLLIB3_CVE in table and "1.24.2" in table and "1 open findings" in table

    assert main(["query", "--server", api.url, "--image", f"{REPO}/worker:2.0",
                 "-o", "json"]) == 0
    assert [i["digest"] for i in json.loads(capsys.readouterr().out)["images"]] == [
        fleet["worker"]]

    monkeypatch.setenv("HULLCHECK_TOKEN", "hc_" + "z" * 43)
    assert main(["query", "--server", api.url, "--advisory", URLLIB3_CVE]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401: the token is not known or was revoked" in err
    assert "hint: the token in HULLCHECK_TOKEN is missing, unknown or revoked" in err



def test_vex_decisions_are_attached_to_the_images_as_a_signed_attestation(
        tmp_path: Path, registry, key_files, monkeypatch, capsys) -> None:
    from tests.server.api.support import push_image, running

    private, public, other = key_files  # COSIGN_PASSWORD is set
    repository = f"{registry.host}/attest/web"
    digest = push_image(registry.host, "attest/web:1", python_image({"urllib3": "1.24.1"},
                                                                     marker="attest"))
    signing = f"signing: {{key: {private}, password-env: COSIGN_PASSWORD}}\n"
    with running(tmp_path / "data", database_url=None, registry=registry.host,
                 extra_config=signing, environ={"COSIGN_PASSWORD": "pw"}) as api:
        assert api.post("/images", body={"reference": f"{repository}:1"}).status_code == 202
        drain(api.service)
        assert api.post("/triage", body={
            "scope": "repository", "target": repository, "advisory": URLLIB3_CVE,
            "action": "vex", "vexStatus": "not_affected", "justification":
            "vulnerable_code_not_present", "reason": "patched copy"}).status_code == 201
        assert api.post("/vex/attestations", scope="read",
                        params={"repository": repository}).status_code == 403
        r = api.post("/vex/attestations", params={"repository": repository})
        assert r.status_code == 201, r.text
        assert check(r.json(), "Attested") == {"attested": [digest]}
        exported = api.get("/vex", repository=repository).json()

    assert main(["verify-attestation", f"{repository}@{digest}", "--key", str(public),
                 "--type", "https://openvex.dev/ns/v0.2.0", "-o", "json"]) == 0
    [verified] = json.loads(capsys.readouterr().out)
    assert verified["subject"][0]["digest"]["sha256"] == digest.removeprefix("sha256:")
    assert verified["predicate"]["statements"] == exported["statements"]
    assert verified["predicate"]["statements"][0]["status"] == "not_affected"
    # the other key did not sign it
    assert main(["verify-attestation", f"{repository}@{digest}", "--key", str(other)]) == 1


def test_attesting_without_a_signing_key_is_refused(api: Running) -> None:
    r = api.post("/vex/attestations", params={"repository": "registry.example.org/a"})
    assert r.status_code == 400
    assert r.json()["error"] == "no signing key is configured (signing: in the monitor config)"
