"""Triage through the service: a VEX decision marks the finding (re-matched at once), is in
the audit log, and comes out as an OpenVEX document that hullcheck's own VEX reader applies
to the same finding; search by purl with a version range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck import vex
from hullcheck.errors import UsageError
from hullcheck.fleet.model import TriageAction, TriageDecision, TriageScope
from hullcheck.monitor.service import Service
from tests.monitor.support import config, drain, osv_record, write_sources
from tests.monitor.test_delivery import upload


def test_a_vex_decision_marks_audits_and_exports(tmp_path: Path,
                                                 database_url: str | None) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28"), osv_record("PYSEC-2023-74")])
    cfg = config("advisories: {sources: sources.yaml}\n", base=tmp_path)
    with Service.open(data_dir=tmp_path / "data", database_url=database_url, config=cfg) as svc:
        svc.update_advisories(requested_by="admin")
        drain(svc)
        a = svc.ingest_push(upload("reg.example/shop:1", "a"), name="reg.example/shop:1",
                            requested_by="ci")
        b = svc.ingest_push(upload("reg.example/shop:2", "b", "2.30.0"),
                            name="reg.example/shop:2", requested_by="ci")
        decision = TriageDecision(scope=TriageScope.REPOSITORY, target="reg.example/shop",
                                  advisory_id="CVE-2023-32681", action=TriageAction.VEX,
                                  vex_status="not_affected",
                                  vex_justification="vulnerable_code_not_in_execute_path",
                                  reason="proxies are never used")
        svc.triage(decision, actor="alice")
        drain(svc)
        for digest in (a, b):
            image = svc.image(digest)
            assert image is not None
            marks = {f.finding.advisory_id: f.finding.suppressed for f in image.findings}
            assert marks["CVE-2023-32681"] is True
            assert marks.get("CVE-2018-18074", False) is False
        (entry,) = svc.audit_log(target="repository:reg.example/shop")
        assert (entry.actor, entry.action, entry.reason) == \
            ("alice", "triage.vex", "proxies are never used")

        doc = svc.openvex("reg.example/shop")
        assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
        (statement,) = doc["statements"]
        assert statement["status"] == "not_affected"
        assert {p["@id"] for p in statement["products"]} == \
            {f"reg.example/shop@{a}", f"reg.example/shop@{b}"}
        exported = tmp_path / "shop.openvex.json"
        exported.write_text(json.dumps(doc))
        (read,) = vex.load_vex(exported)  # hullcheck's own reader: every product matchable
        assert read.vulnerability == ("CVE-2023-32681",) and read.ignored == ()
        assert {p.id for p in read.products} == {a, b}

        with pytest.raises(UsageError, match="not_affected needs a justification"):
            svc.triage(TriageDecision(scope=TriageScope.IMAGE, target=a,
                                      advisory_id="CVE-2018-18074", action=TriageAction.VEX,
                                      vex_status="not_affected"), actor="alice")
        with pytest.raises(UsageError, match="no signing key is configured"):
            svc.attach_openvex("reg.example/shop", actor="alice")

        # Search: every image with requests in a range, compared as PEP 440 versions.
        assert {h.digest for h in svc.search_purl("pkg:pypi/requests",
                                                  versions=">=2.19.0,<2.20")} == {a}
        assert {h.digest for h in svc.search_purl("pkg:pypi/requests",
                                                  versions=">=2.9")} == {a, b}
        assert {h.digest for h in svc.search_advisory("GHSA-j8r2-6x86-q33q")} == {a, b}
        with pytest.raises(UsageError, match="version range"):
            svc.search_purl("pkg:pypi/requests", versions=">=not a version!")
