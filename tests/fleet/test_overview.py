"""The pages' queries (fleet.overview) on both backends: images at risk in the right order
for the right reasons (findings, and the JSON of the base assessment and policy decision,
read the same way by SQLite and PostgreSQL), filters, what changed in a window, an image's
packages and layers, sessions, and revision 0003's upgrade of a store holding data."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from hullcheck import fleet
from hullcheck.fleet import db, overview, scans, sessions
from hullcheck.fleet.model import Deployment, Scope, TriageAction, TriageDecision, TriageScope
from tests.fleet.conftest import (
    DIGEST_A,
    DIGEST_B,
    DIGEST_C,
    Clock,
    deb,
    finding,
    image,
    pypi,
)

DIGEST_D = "sha256:" + "d" * 64
DIGEST_E = "sha256:" + "e" * 64
SSL, XZ = deb("openssl", "3.0.11"), deb("xz-utils", "5.6.0")


def fleet_of_five(store: fleet.Store) -> None:
    """A: a KEV medium; B: a fixable critical; C: a policy failure only; D: a stale base
    only; E: a low without fix (not at risk). A malicious package joins later tests."""
    store.record_scan(image(DIGEST_A, "r/a"), [SSL], [finding("CVE-1", SSL, severity="medium",
                                                              kev=True)])
    store.record_scan(image(DIGEST_B, "r/b"), [SSL, XZ], [
        finding("CVE-2", XZ, severity="critical", fixed=("5.6.1",), status="fixed"),
        finding("CVE-3", SSL, severity="high")])
    store.record_scan(image(DIGEST_C, "r/c"), [SSL], [])
    store.record_scan(image(DIGEST_D, "r/d"), [SSL], [])
    store.record_scan(image(DIGEST_E, "r/e"), [XZ], [finding("CVE-4", XZ, severity="low")])
    with store.write() as conn:
        scans.set_assessment(conn, DIGEST_C, policy={"outcome": "fail", "violations": []})
        scans.set_assessment(conn, DIGEST_D, base={"freshness": {"upToDate": False},
                                                   "eol": {"state": "supported"}})
        scans.set_assessment(conn, DIGEST_E, base={"freshness": {"upToDate": True},
                                                   "eol": {"state": "supported"}},
                             policy={"outcome": "pass"})


def test_images_at_risk_come_worst_first_for_their_reasons(store: fleet.Store) -> None:
    fleet_of_five(store)
    mal = pypi("evil", "1.0")
    store.record_scan(image("sha256:" + "f" * 64, "r/f"), [mal],
                      [finding("MAL-1", mal, severity="malicious")])
    with store.read() as conn:
        risk = overview.fleet_risk(conn)
    assert risk.total == 5
    assert [r.repository for r in risk.rows] == ["r/f", "r/a", "r/b", "r/c", "r/d"]
    f, a, b, c, d = risk.rows
    assert (f.malicious, a.kev, b.fixable, c.policy_failed, d.base_stale) == (1, 1, 1, True, True)
    assert b.counts == {"critical": 1, "high": 1} and not b.policy_failed and not b.base_stale
    assert a.tags == ("1.0",) and not d.base_eol
    assert risk.totals == {"malicious": 1, "medium": 1, "critical": 1, "high": 1, "low": 1}
    with store.read() as conn:  # paging: the second page of two, and past the end
        page = overview.fleet_risk(conn, limit=2, offset=2)
        assert [r.repository for r in page.rows] == ["r/b", "r/c"] and page.total == 5
        past = overview.fleet_risk(conn, limit=2, offset=10)
        assert (past.rows, past.total) == ((), 5)


def test_suppressed_and_fixed_findings_put_nothing_at_risk(store: fleet.Store) -> None:
    store.record_scan(image(DIGEST_A, "r/a"), [SSL], [
        finding("CVE-1", SSL, severity="critical", fixed=("1",), status="fixed",
                suppressed=True)])
    store.record_scan(image(DIGEST_B, "r/b"), [SSL], [
        finding("CVE-2", SSL, severity="critical", fixed=("1",), status="fixed")])
    store.record_scan(image(DIGEST_B, "r/b"), [SSL], [])  # rescanned: CVE-2 fixed
    with store.read() as conn:
        risk = overview.fleet_risk(conn)
    assert (risk.rows, risk.total, risk.totals) == ((), 0, {})


def test_filters_narrow_totals_and_risk(store: fleet.Store) -> None:
    fleet_of_five(store)
    store.replace_deployments("prod", [Deployment(cluster="prod", namespace="shop",
                                                  workload="a", container="", image_digest=DIGEST_A)])
    store.record_scan(image(DIGEST_B, "r/b", tags=("2.0",)), [SSL, XZ], [
        finding("CVE-2", XZ, severity="critical", fixed=("5.6.1",), status="fixed"),
        finding("CVE-3", SSL, severity="high")])
    with store.read() as conn:
        assert overview.fleet_risk(conn).totals == {"medium": 1, "critical": 1, "high": 1,
                                                    "low": 1}
        prod = overview.Filter(cluster="prod")
        in_prod = overview.fleet_risk(conn, prod)
        assert in_prod.totals == {"medium": 1}
        assert [r.digest for r in in_prod.rows] == [DIGEST_A]
        assert overview.image_count(conn, prod) == 1
        assert overview.image_count(conn, overview.Filter(cluster="prod", namespace="x")) == 0
        by_repo = overview.Filter(repository="r/b")
        assert [r.digest for r in overview.fleet_risk(conn, by_repo).rows] == [DIGEST_B]
        # the image-level reasons obey the filter too: C fails its policy, outside r/b
        assert [r.digest for r in overview.fleet_risk(
            conn, overview.Filter(repository="r/c")).rows] == [DIGEST_C]
        assert overview.image_count(conn, overview.Filter(owner="nobody")) == 0
        options = overview.filter_options(conn)
        assert options.clusters == ("prod",) and options.namespaces == ("shop",)
        assert options.repositories == ("r/a", "r/b", "r/c", "r/d", "r/e")


def test_changes_in_a_window(store: fleet.Store, clock: Clock) -> None:
    store.record_scan(image(DIGEST_A, "r/a"), [SSL, XZ], [finding("CVE-1", SSL),
                                                         finding("CVE-2", XZ, severity="low")])
    clock.advance(days=3)
    store.record_scan(image(DIGEST_A, "r/a"), [SSL, XZ], [finding("CVE-2", XZ, severity="low")])
    now = clock.advance(hours=1)
    with store.read() as conn:
        day = overview.changes_since(conn, now - dt.timedelta(days=1), latest=10)
        week = overview.changes_since(conn, now - dt.timedelta(days=7))
        other = overview.changes_since(conn, now - dt.timedelta(days=7),
                                       overview.Filter(repository="r/x"))
        mine = overview.changes_since(conn, now - dt.timedelta(days=7),
                                      overview.Filter(repository="r/a"))
    assert day.counts == {"fixed": 1} and day.total("fixed") == 1
    assert [(c.change, c.advisory_id, c.repository) for c in day.latest] == [
        ("fixed", "CVE-1", "r/a")]
    assert week.total("new") == 2 and week.total("fixed") == 1 and not week.latest
    assert other.counts == {} and mine.counts == week.counts


def test_an_images_packages_layers_and_replacements(store: fleet.Store) -> None:
    old = deb("openssl", "3.0.9", layer=0, visible=False)
    new = deb("openssl", "3.0.11", layer=1)
    gone = deb("gcc-12", "12.2.0", layer=1, visible=False)
    store.record_scan(image(), [old, new, gone, deb("zlib1g", "1.2.13"), pypi("Six_x", "1")], [])
    with store.read() as conn:
        rows, total = overview.image_packages(conn, DIGEST_A, text="SSL")
        assert total == 2 and [p.version for p in rows] == ["3.0.11", "3.0.9"]
        rows, total = overview.image_packages(conn, DIGEST_A, text="six_")  # _ is literal
        assert total == 1 and rows[0].name == "Six_x"
        assert overview.image_packages(conn, DIGEST_A, text="%")[1] == 0
        first, total = overview.image_packages(conn, DIGEST_A, limit=2)
        second, _ = overview.image_packages(conn, DIGEST_A, limit=2, offset=2)
        assert total == 5 and len(first) == len(second) == 2
        assert not {p.purl for p in first} & {p.purl for p in second}
        layers = overview.layer_packages(conn, DIGEST_A)
        assert layers[0].visible == 1 and [h.version for h in layers[0].hidden] == ["3.0.9"]
        assert layers[1].visible == 2 and [h.name for h in layers[1].hidden] == ["gcc-12"]
        replaced = overview.replacements(conn, DIGEST_A, [old, gone])
        assert replaced == {old.purl: new}


def test_sessions_end_on_logout_expiry_and_revocation(store: fleet.Store, clock: Clock) -> None:
    info, _ = store.create_token("alice", Scope.WRITE, actor="t")
    with store.write() as conn:
        sid = sessions.create(conn, info.id, now=clock(), lifetime=dt.timedelta(hours=1))
        other = sessions.create(conn, info.id, now=clock(), lifetime=dt.timedelta(hours=1))
    with store.read() as conn:
        found = sessions.lookup(conn, sid, now=clock())
        assert found is not None and found.name == "alice" and found.scope is Scope.WRITE
        assert sessions.lookup(conn, sid + "x", now=clock()) is None
        assert sessions.lookup(conn, "", now=clock()) is None
    with store.write() as conn:
        assert sessions.delete(conn, sid) and not sessions.delete(conn, sid)
    with store.read() as conn:
        assert sessions.lookup(conn, sid, now=clock()) is None
        assert sessions.lookup(conn, other, now=clock() + dt.timedelta(hours=2)) is None
        assert sessions.lookup(conn, other, now=clock()) is not None
    store.revoke_token("alice", actor="t")
    with store.read() as conn:
        assert sessions.lookup(conn, other, now=clock()) is None


def test_waivers_are_stored_with_their_expiry(store: fleet.Store) -> None:
    store.record_scan(image(), [SSL], [finding("CVE-1", SSL)])
    until = dt.date(2025, 6, 30)
    store.decide(TriageDecision(scope=TriageScope.IMAGE, target=DIGEST_A, advisory_id="CVE-1",
                                action=TriageAction.WAIVE, reason="isolated", expires=until),
                 actor="alice")
    (decision,) = store.decisions(digest=DIGEST_A)
    assert (decision.action, decision.expires) == ("waive", until)
    (entry,) = store.audit_log(target=f"image:{DIGEST_A}")
    assert entry.action == "triage.waive" and entry.details["expires"] == "2025-06-30"


def test_upgrade_from_0002_keeps_triage_and_allows_waivers(db_url: str) -> None:
    engine = db.connect(db_url)
    assert db.migrate(engine, to="0002") == "0002"
    then = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO triage (scope, target, advisory_id, package_purl, action, assignee, "
            "vex_status, vex_justification, reason, actor, at) VALUES ('repository', 'r/a', "
            "'CVE-1', '', 'vex', '', 'not_affected', 'component_not_present', 'why', 'bob', "
            ":at)"), {"at": then.replace(tzinfo=None) if engine.dialect.name == "sqlite"
                      else then})
        try:  # 0002 refuses a waiver: the upgrade below is what allows it
            with conn.begin_nested():
                conn.execute(sa.text(
                    "INSERT INTO triage (scope, target, advisory_id, package_purl, action, "
                    "assignee, vex_status, vex_justification, reason, actor, at) VALUES "
                    "('image', 'x', 'CVE-2', '', 'waive', '', '', '', '', 'bob', :at)"),
                    {"at": then.replace(tzinfo=None)})
            raise AssertionError("0002 took a waiver")
        except sa.exc.IntegrityError:
            pass
    engine.dispose()
    with fleet.open(db_url) as store:
        with store.read() as conn:
            assert db.current(conn) == db.head()
            assert sa.inspect(conn).has_table("sessions")
        (kept,) = store.decisions(repository="r/a")
        assert (kept.vex_status, kept.reason, kept.expires) == ("not_affected", "why", None)
        store.decide(TriageDecision(scope=TriageScope.REPOSITORY, target="r/a",
                                    advisory_id="CVE-1", action=TriageAction.WAIVE,
                                    expires=dt.date(2025, 2, 1)), actor="bob")
        assert len(store.decisions(repository="r/a")) == 2
        with store.read() as conn:
            names = {ix["name"] for ix in sa.inspect(conn).get_indexes("finding_history")}
        assert "ix_finding_history_at_change" in names
