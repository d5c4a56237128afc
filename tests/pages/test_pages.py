"""What the pages say about a real fleet: at risk first (with the reasons), filters, what
changed, one image (layers, packages, shipped-not-visible, findings), an advisory by any
alias, search in each form; triage from the pages (VEX into the OpenVEX export, waivers,
assign, acknowledge: audit-logged, shown); settings (tokens, a channel's test event to a
real receiver, dead letters retried)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from hullcheck.fleet.model import DeliveryStatus
from tests.monitor.receivers import Reply, receiver
from tests.pages.support import REPO, Site, fill, login, post_form, running
from tests.server.api.support import drain

URLLIB3 = "pkg:pypi/urllib3@1.24.1"
CVE = "CVE-2019-11324"


def risk_rows(html: str) -> list[str]:
    """The repositories of the at-risk table, in order."""
    table = html.split('<table class="risk">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<span class="repo">([^<]+)</span>', table)


def test_the_fleet_shows_images_at_risk_first_with_why(site: Site) -> None:
    with site.signed_in() as c:
        html = c.get("/").text
        assert risk_rows(html) == ["registry.example.org/lab/frontend",
                                   "registry.example.org/lab/trainer"]
        assert "1 malicious package" in html and "1 critical/high with a fix" in html
        assert "<strong>2</strong> at risk" in html and "5 images" in html
        # counts by severity, each a word (not only a colour)
        assert re.search(r'sev-malicious">malicious 1<', html)
        assert re.search(r'sev-high">high 1<', html)
        assert re.search(r'sev-unknown">unknown 2<', html)
        # what changed: every finding is new today
        assert re.search(r"New, last 24 h</dt><dd>4<", html)
        assert "<svg" in html and "Open findings per day" in html


def test_fleet_filters_narrow_everything(site: Site) -> None:
    with site.signed_in() as c:
        prod = c.get("/", params={"cluster": "prod"}).text
        assert "1 image matching the filters" in prod and "No image is at risk" in prod
        assert re.search(r'sev-unknown">unknown 1<', prod)
        assert 'sev-malicious">malicious' not in prod
        lab = c.get("/", params={"repository": "registry.example.org/lab/frontend"}).text
        assert risk_rows(lab) == ["registry.example.org/lab/frontend"]
        owner = c.get("/", params={"owner": "team-api@example.org"}).text
        assert "4 images matching the filters" in owner  # the python images carry the label
        nobody = c.get("/", params={"namespace": "nowhere"}).text
        assert "0 images matching" in nobody


def test_an_image_page_shows_layers_packages_and_what_ships_unseen(site: Site) -> None:
    worker = site.digests["worker"]
    with site.signed_in() as c:
        html = c.get(f"/images/{worker}").text
        assert f"{REPO}/worker" in html and "2.0" in html and worker in html
        assert "staging/jobs/worker" in html and "team-api@example.org" in html
        layers = html.split('id="layers"', 1)[1].split("</section>", 1)[0]
        assert "pip uninstall" in layers and "pip install" in layers
        assert re.search(r"shipped, not visible: <code>urllib3 1.24.1</code> \(removed later\)",
                         layers)
        findings = html.split('id="findings"', 1)[1].split("</section>", 1)[0]
        assert CVE in findings and "1.24.2" in findings and "PYSEC-2019-133" in findings
        # the packages: all, then searched (the fragment htmx swaps in, and the plain form)
        packages = html.split('id="package-table"', 1)[1]
        assert "six" in packages and "urllib3" in packages
        part = c.get(f"/images/{worker}/packages", params={"pq": "SIX"}).text
        assert "1 package matching" in part and ">six<" in part and ">urllib3<" not in part
        assert "<html" not in part
        plain = c.get(f"/images/{worker}", params={"pq": "url"}).text
        assert "1 package matching" in plain.split('id="package-table"', 1)[1]


def test_an_advisory_page_answers_for_any_alias(site: Site) -> None:
    with site.signed_in() as c:
        for name in ("PYSEC-2019-133", CVE, "cve-2019-11324"):
            r = c.get(f"/advisories/{name}")
            assert r.status_code == 200, name
            assert site.digests["web"] in r.text and site.digests["worker"] in r.text
            assert site.digests["other"] not in r.text  # 1.26.0 is not affected
            assert "fix available" in r.text and "1.24.2" in r.text
            assert "prod/shop/web" in r.text and "staging/jobs/worker" in r.text
            assert "PyPI/urllib3" in r.text  # the record's affected package and range
        r = c.get("/advisories/CVE-1999-0001")
        assert r.status_code == 404 and "No advisory CVE-1999-0001" in r.text
        malicious = c.get("/advisories/MAL-2023-1").text
        assert "malicious package" in malicious and site.digests["node"] in malicious


@pytest.mark.parametrize(("q", "shown", "hidden"), [
    (URLLIB3, ("web", "worker"), ("other",)),
    ("urllib3 1.26.0", ("other",), ("web", "worker")),
    ("urllib3", ("web", "worker", "other"), ("ml",)),
    (f"{REPO}/web:1.0", ("web",), ("worker", "other")),
    (f"{REPO}/worker", ("worker",), ("web",)),
])
def test_search_answers_the_blast_radius(site: Site, q: str, shown: tuple[str, ...],
                                         hidden: tuple[str, ...]) -> None:
    with site.signed_in() as c:
        html = c.get("/search", params={"q": q}).text
        for name in shown:
            assert site.digests[name] in html, (q, name)
        for name in hidden:
            assert site.digests[name] not in html, (q, name)


def test_search_sends_digests_and_advisories_to_their_pages(site: Site) -> None:
    web = site.digests["web"]
    with site.signed_in() as c:
        r = c.get("/search", params={"q": CVE})
        assert r.status_code == 303 and r.headers["location"] == f"/advisories/{CVE}"
        r = c.get("/search", params={"q": web})
        assert r.status_code == 303 and r.headers["location"] == f"/images/{web}"
        r = c.get("/search", params={"q": f"{REPO}/web@{web}"})
        assert r.headers["location"] == f"/images/{web}"


def _triage(c, site: Site, name: str, **form: str):
    digest = site.digests[name]
    return post_form(c, "/triage", {"digest": digest, "advisory": CVE, "package": URLLIB3,
                                    "package_name": "urllib3", **form},
                     page=f"/images/{digest}/triage?advisory={CVE}&package={URLLIB3}")


def test_a_vex_decision_marks_the_finding_and_reaches_the_openvex_export(
        fresh_both: Site) -> None:
    site = fresh_both
    web = site.digests["web"]
    with site.signed_in("write") as c:
        r = _triage(c, site, "web", action="vex", vex_status="not_affected",
                    justification="vulnerable_code_not_in_execute_path",
                    reason="we never verify certificates with urllib3 here")
        assert r.status_code == 303
        assert r.headers["location"] == f"/images/{web}?done=vex#f-{CVE}-urllib3"
        drain(site.service)  # the re-match the decision queued
        html = c.get(r.headers["location"]).text
        assert "Recorded: vex" in html
        row = html.split(f'id="f-{CVE}-urllib3"', 1)[1].split("</tr>", 1)[0]
        assert "suppressed" in row and "not_affected" in row
        assert "vulnerable_code_not_in_execute_path" in row
        audit = html.split('id="audit"', 1)[1]
        assert "write-token" in audit and "triage.vex" in audit
    doc = site.service.openvex(f"{REPO}/web")
    (statement,) = doc["statements"]
    assert statement["vulnerability"]["name"] == CVE
    assert statement["status"] == "not_affected"
    assert statement["products"][0]["@id"] == f"{REPO}/web@{web}"


def test_a_waiver_needs_a_future_expiry_and_marks_until_then(fresh: Site) -> None:
    today = fresh.service.store.clock().date()
    with fresh.signed_in("write") as c:
        past = (today - dt.timedelta(days=1)).isoformat()
        r = _triage(c, fresh, "web", action="waive", expires=past, reason="accepted")
        assert r.status_code == 400 and "has passed" in r.text
        assert ">accepted</textarea>" in r.text  # the form keeps what was typed
        r = _triage(c, fresh, "web", action="waive", expires="", reason="accepted")
        assert r.status_code == 400 and "must be a date" in r.text
        r = _triage(c, fresh, "web", action="waive", expires="2999-01-01", reason="x")
        assert r.status_code == 400 and "within 366 days" in r.text
        assert not fresh.service.decisions(digest=fresh.digests["web"])
        until = (today + dt.timedelta(days=30)).isoformat()
        r = _triage(c, fresh, "web", action="waive", expires=until,
                    reason="network isolated until the upgrade")
        assert r.status_code == 303
        drain(fresh.service)
        html = c.get(f"/images/{fresh.digests['web']}").text
        row = html.split(f'id="f-{CVE}-urllib3"', 1)[1].split("</tr>", 1)[0]
        assert "suppressed by ignore:waiver:image" in row and f"until {until}" in row
        assert "waived: network isolated until the upgrade" in row
    (decision,) = fresh.service.decisions(digest=fresh.digests["web"])
    assert (decision.action, decision.expires) == ("waive", dt.date.fromisoformat(until))


def test_assign_and_acknowledge_show_on_the_image_and_in_the_audit_log(fresh: Site) -> None:
    with fresh.signed_in("write") as c:
        r = _triage(c, fresh, "worker", action="assign", assignee="", reason="")
        assert r.status_code == 400 and "say to whom" in r.text
        assert _triage(c, fresh, "worker", action="assign", assignee="alice@example.org",
                       scope="repository").status_code == 303
        assert _triage(c, fresh, "worker", action="acknowledge",
                       reason="looking at it").status_code == 303
        html = c.get(f"/images/{fresh.digests['worker']}").text
        row = html.split(f'id="f-{CVE}-urllib3"', 1)[1].split("</tr>", 1)[0]
        assert "assign → alice@example.org" in row and "repository" in row
        assert "acknowledge" in row
        audit = html.split('id="audit"', 1)[1]
        assert "triage.assign" in audit
        assert f"triage.acknowledge {CVE}: looking at it" in audit


def test_settings_create_and_revoke_tokens(fresh: Site) -> None:
    with fresh.signed_in("admin") as c:
        r = post_form(c, "/settings/tokens", {"name": "ci-bot", "scope": "write"},
                      page="/settings")
        assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
        token = re.search(r'id="new-token" readonly value="(hc_[^"]+)"', r.text)
        assert token is not None and "not shown again" in r.text
        assert "hc_" not in c.get("/settings").text  # shown once
        r = post_form(c, "/settings/tokens", {"name": "ci-bot", "scope": "read"},
                      page="/settings")
        assert r.status_code == 400 and "exists" in r.text
    with fresh.client() as bot:
        assert login(bot, token.group(1)).status_code == 303
        assert bot.get("/").status_code == 200
        with fresh.signed_in("admin") as c:
            r = post_form(c, "/settings/tokens/revoke", {"name": "ci-bot"}, page="/settings")
            assert r.status_code == 200 and "revoked" in r.text
        assert bot.get("/").status_code == 303  # its session ended with it
    actions = [e.action for e in fresh.service.audit_log(target="token:ci-bot")]
    assert actions == ["token.revoke", "session.login", "token.create"]


def test_a_channel_test_event_reaches_a_real_receiver(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-for-the-test"
    with receiver(secret=secret.encode()) as ok, receiver(Reply(status=500)) as broken:
        extra = (f"channels:\n  - {{name: ops, type: webhook, url: '{ok.url()}', "
                 f"secret-env: HOOK}}\n  - {{name: down, type: webhook, url: "
                 f"'{broken.url()}', secret-env: HOOK}}\n")
        with running(tmp_path, extra_config=extra, environ={"HOOK": secret}) as site:
            with site.signed_in("admin") as c:
                page = c.get("/settings").text
                assert "<strong>ops</strong> (webhook)" in page and "Send test event" in page
                assert f"127.0.0.1:{ok.port}" in page
                r = post_form(c, "/settings/channels/test", {"channel": "ops"},
                              page="/settings")
                assert r.status_code == 200 and "test event to ops: delivered" in r.text
                r = post_form(c, "/settings/channels/test", {"channel": "down"},
                              page="/settings")
                assert r.status_code == 502 and "not delivered" in r.text
                r = post_form(c, "/settings/channels/test", {"channel": "nope"},
                              page="/settings")
                assert r.status_code == 404
            audit = [(e.action, e.target, e.details["outcome"])
                     for e in site.service.audit_log() if e.action == "channel.test"]
            assert audit == [("channel.test", "channel:down", "retry"),
                             ("channel.test", "channel:ops", "delivered")]
    (delivery,) = ok.deliveries
    assert delivery.signature_ok
    body = json.loads(delivery.body)
    assert body[0]["event"] == "test" if isinstance(body, list) else body["event"] == "test"


def test_dead_letters_are_listed_and_retried(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver(Reply(status=410)) as gone:
        extra = (f"channels:\n  - {{name: gone, type: webhook, url: '{gone.url()}', "
                 "secret-env: HOOK}\nalerts:\n  - {name: all, when: [new-finding], "
                 "channels: [gone]}\n")
        with running(tmp_path, extra_config=extra, environ={"HOOK": "k"}) as site:
            fill(site, tmp_path, monkeypatch)
            drain(site.service)
            dead = site.service.dead_letters()
            assert dead and all(d.channel == "gone" for d in dead)
            with site.signed_in("admin") as c:
                page = c.get("/settings").text
                assert page.count('name="delivery"') == len(dead) and "new-finding" in page
                r = post_form(c, "/settings/dead-letters/retry", {"delivery": str(dead[0].id)},
                              page="/settings")
                assert r.status_code == 200 and f"delivery {dead[0].id} queued again" in r.text
                r = post_form(c, "/settings/dead-letters/retry", {"delivery": "999999"},
                              page="/settings")
                assert r.status_code == 404
            pending = site.service.store.deliveries(DeliveryStatus.PENDING)
            assert [d.id for d in pending] == [dead[0].id]
            assert len(site.service.dead_letters()) == len(dead) - 1


def test_base_policy_and_signatures_read_from_the_stored_assessment(fresh: Site) -> None:
    """What the assess job stores (base freshness and EOL with rebuild advice, the policy's
    violations, verified signatures) shows on the image page; JSON of unexpected shapes
    shows as absent instead of breaking the page."""
    from hullcheck.fleet import scans

    web, worker = fresh.digests["web"], fresh.digests["worker"]
    with fresh.service.store.write() as conn:
        scans.set_assessment(conn, web, base={
            "base": {"identifiedBy": "catalog", "reference": "debian:12"},
            "trust": {"state": "trusted", "reason": "signed by the platform key"},
            "freshness": {"upToDate": False, "summary": "debian:12 moved 40 days ago"},
            "eol": {"state": "end-of-life", "reason": "Debian 10 ended 2024-06-30"},
            "advice": {"summary": "rebuild on debian:12 now: fixes 3 high"}},
            policy={"outcome": "fail", "policy": "production", "violations": [
                {"rule": "no-critical", "action": "fail", "message": "2 critical findings",
                 "items": [{"id": "CVE-2024-1"}, {"id": "CVE-2024-2"}]}]},
            signatures=[{"key": "cosign.pub", "keyFingerprint": "ab" * 16, "format": "cosign"}])
        scans.set_assessment(conn, worker, base={"base": ["not", "a", "mapping"],
                                                 "freshness": "stale?", "eol": 5},
                             policy={"outcome": 3, "violations": {"x": 1}})
    with fresh.signed_in() as c:
        html = c.get(f"/images/{web}").text
        base = html.split('id="base"', 1)[1].split("</section>", 1)[0]
        assert "debian:12" in base and "(by catalog)" in base and "trusted" in base
        assert ">stale</span> debian:12 moved 40 days ago" in base
        assert ">end-of-life</span> Debian 10 ended" in base
        assert "rebuild on debian:12 now: fixes 3 high" in base
        policy = html.split('id="policy"', 1)[1].split("</section>", 1)[0]
        assert "outcome-fail" in policy and "no-critical" in policy
        assert "2 critical findings" in policy and "CVE-2024-1, CVE-2024-2" in policy
        assert ">verified</span> cosign.pub" in html
        risk = c.get("/").text.split('<table class="risk">', 1)[1].split("</table>", 1)[0]
        row = next(r for r in risk.split("<tr>") if web in r)
        assert "policy failing" in row and "base image end of life" in row
        assert "base image stale" in row
        odd = c.get(f"/images/{worker}")
        assert odd.status_code == 200 and "unidentified" in odd.text
        assert "outcome-unknown" in odd.text
