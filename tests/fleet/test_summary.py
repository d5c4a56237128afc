"""The images' risk summary (fleet.summary, revision 0004), on both backends: after each
scan, re-match, triage mark, assessment, pending or failed image and removal it equals a
recomputation from scratch; the fleet page reads a page of it by its rank index and never
the findings; its rank key orders as the reasons and counts did; 0004's upgrade of a store
holding data backfills it. And the page's day and week of changes come from one pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck import fleet
from hullcheck.fleet import db, overview, scans, schema, summary
from hullcheck.fleet.model import TriageAction, TriageDecision, TriageScope
from tests.fleet.conftest import (
    DIGEST_A,
    DIGEST_B,
    DIGEST_C,
    Clock,
    consistent,
    deb,
    finding,
    image,
    pypi,
)

DIGEST_D = "sha256:" + "d" * 64
DIGEST_E = "sha256:" + "e" * 64
DIGEST_P = "sha256:" + "9" * 64
SSL, XZ, ZLIB = deb("openssl", "3.0.11"), deb("xz-utils", "5.6.0"), deb("zlib1g", "1.2.13")
EVIL = pypi("evil", "1.0")


def ranked(store: fleet.Store) -> list[str]:
    with store.read() as conn:
        return [r.repository for r in overview.fleet_risk(conn).rows]


def test_the_summary_equals_a_recomputation_after_every_write(store: fleet.Store) -> None:
    store.record_pending(DIGEST_P, "r/p", ["1"])
    store.record_failure("sha256:" + "8" * 64, "r/failed", "manifest unknown")
    assert consistent(store)[DIGEST_P]["risk_rank"] is None
    store.record_scan(image(DIGEST_A, "r/a"), [SSL], [finding("CVE-1", SSL, severity="medium",
                                                              kev=True)])
    store.record_scan(image(DIGEST_B, "r/b"), [SSL, XZ], [
        finding("CVE-2", XZ, severity="critical", fixed=("5.6.1",), status="fixed"),
        finding("CVE-3", SSL, severity="high")])
    store.record_scan(image(DIGEST_C, "r/c"), [SSL], [finding("CVE-4", SSL, severity="low")])
    store.record_scan(image(DIGEST_D, "r/d"), [ZLIB], [])
    store.record_scan(image(DIGEST_E, "r/e"), [EVIL], [finding("MAL-1", EVIL,
                                                               severity="malicious")])
    consistent(store)
    assert ranked(store) == ["r/e", "r/a", "r/b"]
    with store.write() as conn:  # assessments: C's policy fails, D's base is stale, then EOL
        scans.set_assessment(conn, DIGEST_C, policy={"outcome": "fail", "violations": []})
        scans.set_assessment(conn, DIGEST_D, base={"freshness": {"upToDate": False}})
    consistent(store)
    assert ranked(store) == ["r/e", "r/a", "r/b", "r/c", "r/d"]
    with store.write() as conn:
        scans.set_assessment(conn, DIGEST_D, base={"freshness": {"upToDate": True},
                                                   "eol": {"state": "end-of-life"}})
        scans.set_assessment(conn, DIGEST_C, signatures=[])  # no input of the summary
    assert consistent(store)[DIGEST_D]["base_eol"] is True
    # a re-match of XZ in B: CVE-2 is gone (fixed), a new critical without a fix arrives
    store.apply_rematch(DIGEST_B, [finding("CVE-5", XZ, severity="critical")],
                        purls=[XZ.purl])
    kept = consistent(store)
    assert (kept[DIGEST_B]["critical"], kept[DIGEST_B]["fixable"]) == (1, 0)
    # triage: a VEX decision on A's KEV finding, and the re-match the monitor queues for it
    store.decide(TriageDecision(scope=TriageScope.IMAGE, target=DIGEST_A, advisory_id="CVE-1",
                                action=TriageAction.VEX, vex_status="not_affected"),
                 actor="alice")
    store.apply_rematch(DIGEST_A, [finding("CVE-1", SSL, severity="medium", kev=True,
                                           suppressed=True)], purls=[SSL.purl])
    assert consistent(store)[DIGEST_A]["risk_rank"] is None
    # a rescan of B reopens CVE-2 and fixes CVE-3; one of E drops its malicious package
    store.record_scan(image(DIGEST_B, "r/b"), [SSL, XZ], [
        finding("CVE-2", XZ, severity="critical", fixed=("5.6.1",), status="fixed"),
        finding("CVE-5", XZ, severity="critical")])
    store.record_scan(image(DIGEST_E, "r/e"), [], [])
    consistent(store)
    assert ranked(store) == ["r/b", "r/c", "r/d"]
    # a re-match that changes nothing, then a rescan of C that rewrites its assessment
    same = store.apply_rematch(DIGEST_B, [
        finding("CVE-2", XZ, severity="critical", fixed=("5.6.1",), status="fixed"),
        finding("CVE-5", XZ, severity="critical")], purls=[XZ.purl])
    assert not same
    store.record_scan(image(DIGEST_C, "r/c"), [SSL], [finding("CVE-4", SSL, severity="low")])
    consistent(store)
    assert ranked(store) == ["r/b", "r/d"]
    # removal: the image's row goes with it
    with store.write() as conn:
        conn.execute(schema.images.delete().where(schema.images.c.digest == DIGEST_B))
    kept = consistent(store)
    assert DIGEST_B not in kept and ranked(store) == ["r/d"]


def test_pages_filters_and_totals_come_from_the_summary(store: fleet.Store) -> None:
    for k in range(7):  # seven images with a fixable high, k critical
        digest = f"sha256:{k:064x}"
        store.record_scan(image(digest, f"r/{k}", tags=(f"v{k}",)), [SSL, XZ], [
            finding("CVE-1", SSL, severity="high", fixed=("9",), status="fixed"),
            *[finding(f"CVE-C{j}", XZ, severity="critical") for j in range(k)]])
    with store.read() as conn:
        first = overview.fleet_risk(conn, limit=3)
        second = overview.fleet_risk(conn, limit=3, offset=3)
        only = overview.fleet_risk(conn, overview.Filter(repository="r/2"))
    assert [r.repository for r in first.rows] == ["r/6", "r/5", "r/4"]
    assert [r.repository for r in second.rows] == ["r/3", "r/2", "r/1"]
    assert first.total == 7 and first.totals == {"high": 7, "critical": 21}
    assert first.rows[0].tags == ("v6",) and first.rows[0].counts == {"high": 1, "critical": 6}
    assert [r.repository for r in only.rows] == ["r/2"] and only.totals == {"high": 1,
                                                                            "critical": 2}


def test_the_fleet_page_reads_no_finding(store: fleet.Store) -> None:
    """Its cost is the page's: the ranking never goes through the findings table."""
    store.record_scan(image(DIGEST_A, "r/a"), [SSL], [
        finding("CVE-1", SSL, severity="critical", fixed=("1",), status="fixed")])
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.read() as conn:
            page = overview.fleet_risk(conn, limit=10, offset=0)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert [r.digest for r in page.rows] == [DIGEST_A]
    assert any("image_summary" in s for s in statements)
    assert not [s for s in statements if " findings" in s]


def test_a_page_of_images_at_risk_is_an_index_range(store: fleet.Store) -> None:
    """Ordered by the rank index itself: no sort of the images at risk, on either backend
    (PostgreSQL told sorting is out of the question must still find the plan)."""
    for k in range(40):
        store.record_scan(image(f"sha256:{k:064x}", f"r/{k}"), [SSL], [
            finding("CVE-1", SSL, severity="high", fixed=("9",), status="fixed")])
    query = overview.risk_page(overview.Filter(), limit=10, offset=20)
    with store.read() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if store.dialect == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql))
            assert "ix_image_summary_risk_rank_image_digest" in plan
            assert "TEMP B-TREE" not in plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_image_summary_risk_rank_image_digest" in plan
            assert "Sort" not in plan
        assert len(conn.execute(query).all()) == 10


SUMMARIES = st.builds(
    summary.Summary,
    counts=st.dictionaries(st.sampled_from(summary.SEVERITIES), st.integers(1, 5000)),
    kev=st.integers(0, 3), fixable=st.integers(0, 3), policy_failed=st.booleans(),
    base_stale=st.booleans(), base_eol=st.booleans())


@settings(max_examples=200, deadline=None)  # no wall-clock limit: counts, not time
@given(st.lists(SUMMARIES, max_size=30))
def test_the_rank_key_orders_as_the_reasons_then_the_counts(items: list[summary.Summary]) -> None:
    """The order the page ranked by before 0004: each reason in turn, then more critical,
    then more high findings, then the digest."""
    def before(item: tuple[str, summary.Summary]) -> tuple[Any, ...]:
        digest, s = item
        c = s.counts
        return (not c.get("malicious"), not s.kev, not s.fixable, not s.policy_failed,
                not (s.base_stale or s.base_eol), -c.get("critical", 0), -c.get("high", 0),
                digest)

    named = [(f"sha256:{k:064x}", s) for k, s in enumerate(items)]
    at_risk = [(d, s) for d, s in named
               if s.counts.get("malicious") or s.kev or s.fixable or s.policy_failed
               or s.base_stale or s.base_eol]
    assert [d for d, s in named if s.rank is not None] == [d for d, _ in at_risk]
    by_rank = sorted(at_risk, key=lambda item: (item[1].rank, item[0]))
    assert [d for d, _ in by_rank] == [d for d, _ in sorted(at_risk, key=before)]
    capped = summary.Summary(counts={"critical": summary.CAP + 10}, kev=1)
    assert capped.rank == summary.Summary(counts={"critical": summary.CAP}, kev=1).rank


def test_upgrade_from_0003_backfills_the_summary(db_url: str) -> None:
    engine = db.connect(db_url)
    assert db.migrate(engine, to="0003") == "0003"
    engine.dispose()
    # A store at 0003 holding images and findings, written as rows (today's code would also
    # write 0004's table): A has a fixable critical, an open suppressed KEV and a fixed
    # malicious finding; B a failing policy and odd JSON; C a base past its end of life and
    # a low finding; D nothing.
    then = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assessed = {
        DIGEST_A: (None, None),
        DIGEST_B: ({"freshness": "stale?", "eol": 5}, {"outcome": "fail"}),
        DIGEST_C: ({"freshness": {"upToDate": True}, "eol": {"state": "end-of-life"}},
                   {"outcome": 3}),
        DIGEST_D: ([1, 2], {"outcome": "pass"}),
    }
    rows = [(DIGEST_A, "CVE-1", "critical", False, "fixed", False, "open"),
            (DIGEST_A, "CVE-2", "high", True, "not-fixed", True, "open"),
            (DIGEST_A, "MAL-1", "malicious", False, "not-fixed", False, "fixed"),
            (DIGEST_C, "CVE-3", "low", False, "not-fixed", False, "open")]
    with fleet.Store(db.connect(db_url)) as old, old.write() as conn:
        for digest, (base, policy) in assessed.items():
            conn.execute(schema.images.insert().values(
                digest=digest, repository=f"r/{digest[7]}", status="scanned", labels={},
                base=base, policy=policy, signatures=[], first_seen=then, first_scanned=then,
                last_scanned=then))
        for digest, advisory, severity, kev, status, suppressed, state in rows:
            f = finding(advisory, SSL, severity=severity)
            conn.execute(schema.findings.insert().values(
                image_digest=digest, advisory_id=advisory, package_purl=f.package_purl,
                aliases=[], severity=severity, cvss=None, kev=kev, fixed_versions=[],
                status=status, suppressed=suppressed, suppressed_reason="", data=f.data,
                state=state, first_seen=then, updated_at=then))
    with fleet.open(db_url) as store:
        with store.read() as conn:
            assert db.current(conn) == db.head()
        kept = consistent(store)
        assert ranked(store) == ["r/a", "r/b", "r/c"]
        assert (kept[DIGEST_A]["critical"], kept[DIGEST_A]["kev"], kept[DIGEST_A]["malicious"],
                kept[DIGEST_A]["fixable"]) == (1, 0, 0, 1)
        assert (kept[DIGEST_B]["policy_failed"], kept[DIGEST_B]["base_stale"]) == (True, False)
        assert (kept[DIGEST_C]["base_eol"], kept[DIGEST_C]["policy_failed"]) == (True, False)
        assert kept[DIGEST_D]["risk_rank"] is None


def test_the_day_and_the_week_are_counted_in_one_pass(store: fleet.Store,
                                                       clock: Clock) -> None:
    store.record_scan(image(DIGEST_A, "r/a"), [SSL, XZ], [finding("CVE-1", SSL),
                                                         finding("CVE-2", XZ, severity="low")])
    clock.advance(days=3)
    store.record_scan(image(DIGEST_A, "r/a"), [SSL, XZ], [finding("CVE-2", XZ, severity="low")])
    now = clock.advance(hours=1)
    windows = [now - dt.timedelta(days=1), now - dt.timedelta(days=7)]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.read() as conn:
            day, week = overview.changes_in(conn, windows, latest=10)
            mine = overview.changes_in(conn, windows, overview.Filter(repository="r/a"))
            other = overview.changes_in(conn, windows, overview.Filter(repository="r/x"))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    assert (day.counts, week.counts) == ({"fixed": 1}, {"new": 2, "fixed": 1})
    assert [(c.change, c.advisory_id) for c in day.latest] == [("fixed", "CVE-1")]
    assert week.latest == () and (day.since, week.since) == tuple(windows)
    assert [c.counts for c in mine] == [day.counts, week.counts]
    assert [c.counts for c in other] == [{}, {}]
    # one count per call (the latest rows apart): the day is not a second pass
    counting = [s for s in statements if "finding_history" in s and "group by" in s]
    assert len(counting) == 3
