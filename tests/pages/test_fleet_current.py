"""The fleet page reads the images' risk summary (fleet.summary), which the store keeps in
the transaction of every write: through the real service (pushes, the re-match a triage
decision queues, the assessment, a rescan) the page is current at once, and the summary
equals a recomputation from scratch, on both backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hullcheck.fleet import scans
from tests.fleet.conftest import consistent
from tests.pages.support import REPO, ULTRALYTICS_ADVISORY, Site, post_form, push
from tests.pages.test_pages import risk_rows
from tests.server.api.support import drain, python_image

FRONTEND, TRAINER = "registry.example.org/lab/frontend", "registry.example.org/lab/trainer"
WORKER = f"{REPO}/worker"


def at_risk(html: str) -> int:
    found = re.search(r"<strong>(\d+)</strong> at risk", html)
    assert found is not None, "the page says nothing of the images at risk"
    return int(found.group(1))


def test_the_fleet_page_is_current_after_triage_assessment_and_rescan(
        fresh_both: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, store = fresh_both, fresh_both.service.store
    ml, worker = site.digests["ml"], site.digests["worker"]
    consistent(store)
    detail = store.image(ml)
    assert detail is not None
    (purl,) = {f.finding.package_purl for f in detail.findings
               if f.finding.advisory_id == ULTRALYTICS_ADVISORY}
    with site.signed_in("write") as c:
        html = c.get("/").text
        assert risk_rows(html) == [FRONTEND, TRAINER] and at_risk(html) == 2
        # a VEX decision on the trainer's fixable high: the re-match it queues marks it
        r = post_form(c, "/triage", {
            "digest": ml, "advisory": ULTRALYTICS_ADVISORY, "package": purl,
            "package_name": "ultralytics", "action": "vex", "vex_status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path", "reason": "not loaded"},
            page=f"/images/{ml}/triage?advisory={ULTRALYTICS_ADVISORY}&package={purl}")
        assert r.status_code == 303, r.text
        drain(site.service)
        html = c.get("/").text
        assert risk_rows(html) == [FRONTEND] and at_risk(html) == 1
        consistent(store)
        # the assess job's result: the worker's base is past its end of life
        with store.write() as conn:
            scans.set_assessment(conn, worker, base={"eol": {"state": "end-of-life"}})
        html = c.get("/").text
        assert risk_rows(html) == [FRONTEND, WORKER] and at_risk(html) == 2
        assert "base image end of life" in html
        consistent(store)
        # a push of the worker again (a rescan) keeps its assessment until the next one
        again = push(site, tmp_path, f"{REPO}/worker:2.0", python_image(
            {"six": "1.16.0"}, hide={"urllib3": "1.24.1"}, marker="worker"), monkeypatch)
        assert again == worker
        assert risk_rows(c.get("/").text) == [FRONTEND, WORKER]
    consistent(store)
