"""A delta re-match works per distinct package, set-wise, on both backends: its statements
do not grow with the images it visits, each distinct package is matched once however many
images hold it, and what it stores still equals a full re-match (the per-image oracle) when
images carry triage decisions (VEX, waivers) and a package sits visible in one image but
only in a lower layer of another."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hullcheck import sbom, vulndb
from hullcheck.fleet import queries, schema, setwise
from hullcheck.fleet.model import TriageAction, TriageDecision, TriageScope
from hullcheck.model import ImageSource, Inventory, Layer, Location, Package, Visibility
from hullcheck.monitor import advisories, convert
from hullcheck.monitor.context import BUILD_FILE, file_build_id
from hullcheck.monitor.service import Service
from hullcheck.vulndb.delta import Scope, diff
from tests.fleet.conftest import consistent
from tests.monitor.support import config, drain
from tests.monitor.test_rematch import SCENARIOS, events, snapshot, write_state
from tests.vulndb.test_delta import INVENTORIES


def _push(svc: Service, inv: Inventory, i: int) -> str:
    digest = "sha256:" + f"{i:064x}"
    name = f"registry.example/app{i}:1"
    inv = dataclasses.replace(inv, source=ImageSource(kind="registry", name=name,
                                                      manifest_digest=digest))
    return svc.ingest_push(sbom.encode(inv, "json"), name=name, requested_by="ci")


def _service(tmp_path: Path, database_url: str | None) -> Service:
    write_state(tmp_path / "advisories", SCENARIOS["all-edited"][0])
    cfg = config("advisories: {sources: advisories/sources.yaml}\n", base=tmp_path)
    svc = Service.open(data_dir=tmp_path / "data", database_url=database_url, config=cfg)
    svc.update_advisories(requested_by="test")
    drain(svc)
    return svc


def _update(tmp_path: Path, svc: Service) -> list[tuple[str, list[str]]]:
    """Advisory state B in the data dir (as the update job builds it), and the images
    (digest, purls) its delta names, as ``advisories.plan`` finds them; not re-matched.
    ``_plan_matches`` matches the delta's distinct entries, as the plan does."""
    write_state(tmp_path / "advisories", SCENARIOS["all-edited"][1])
    ctx = svc.ctx
    old = vulndb.VulnStore.open(ctx.db_path)
    try:
        vulndb.update(ctx.db_path, advisories.sources(ctx))
        ctx.db_path.with_name(BUILD_FILE).write_text(file_build_id(ctx.db_path) + "\n")
        scope = diff(old, ctx.db_path).scope()
    finally:
        old.close()
    svc.delta_names = scope.names  # type: ignore[attr-defined]
    named: dict[str, set[str]] = {}
    for found in ctx.store.packages_named(scope.names):
        named.setdefault(found.digest, set()).update(p.purl for p in found.packages)
    return [(d, sorted(purls)) for d, purls in sorted(named.items())]


def _delta_entries(conn: sa.Connection, keys: list[tuple[str, str]], old: str,
                   ) -> dict[str, tuple[str, str]]:
    """Each distinct entry hash of the packages ``keys`` names in images matched against
    ``old`` (but programs found by version string), with an image holding it and its purl:
    what ``setwise.plan_named`` writes to ``rematch_pending``, read without marking."""
    p, i = schema.packages.c, schema.images.c
    rows = conn.execute(sa.select(p.entry_hash, p.image_digest, p.purl)
                        .join(schema.images, i.digest == p.image_digest)
                        .where(queries.named(keys), i.matched_build == old,
                               p.entry_hash.is_not(None), p.type != "generic")
                        .order_by(p.image_digest, p.purl))
    entries: dict[str, tuple[str, str]] = {}
    for entry, digest, purl in rows:
        entries.setdefault(entry, (digest, purl))
    return entries


def _plan_matches(svc: Service, work: list[tuple[str, list[str]]], old: str, build: str) -> int:
    """What ``advisories.plan`` does before queueing: each distinct entry the delta's
    packages hold matched once, stored for the jobs; the packages matched."""
    keys = queries.named_keys(svc.delta_names)  # type: ignore[attr-defined]
    with svc.store.read() as conn:
        entries = _delta_entries(conn, keys, old)
        named = queries.purls_of(conn, keys, [d for d, _ in work])
    assert {d: sorted(p) for d, p in named.items()} == dict(work)
    return _counting(svc, lambda judge: advisories.match_entries(
        svc.ctx, judge, build, entries))[1]

def _counted(engine: sa.Engine, run: Callable[[], object]) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    sa.event.listen(engine, "before_cursor_execute", counted)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", counted)
    return count


def _counting(svc: Service, run: Callable[[convert.Judge], object]) -> tuple[int, int]:
    """``run`` with a fresh judge: (SQL statements, packages matched)."""
    matched = 0
    with convert.open_vulnstore(svc.ctx.db_path) as store:
        judge = convert.Judge(store, (), None)
        match = judge.matcher.match

        def counting(inv: Inventory, *, packages: Iterable[Package] | None = None) -> Any:
            nonlocal matched
            todo = list(inv.packages if packages is None else packages)
            matched += len(todo)
            return match(inv, packages=todo)

        judge.matcher.match = counting  # type: ignore[method-assign,assignment]
        statements = _counted(svc.store.engine, lambda: run(judge))
    return statements, matched


def _rematch(svc: Service, images: Iterable[tuple[str, list[str]]], build: str) -> tuple[int, int]:
    """Re-match ``images`` with a fresh judge: (SQL statements, packages matched)."""
    work: list[tuple[str, list[str] | None]] = list(images)
    return _counting(svc, lambda judge: advisories.rematch_images(
        svc.ctx, judge, work, build=build))


def test_a_delta_costs_the_same_statements_and_matches_for_2_or_12_images(
        tmp_path: Path, database_url: str | None) -> None:
    with _service(tmp_path, database_url) as svc:
        digests = [_push(svc, INVENTORIES[i % 2], i) for i in range(12)]
        before = snapshot(svc, digests)
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        build = svc.ctx.build_id()
        assert {d for d, _ in work} == set(digests)
        # Distinct entries: a purl in each of the two inventories (their distros differ).
        distinct = {(digests.index(d) % 2, p) for d, purls in work for p in purls}

        planned = _plan_matches(svc, work, old, build)  # each distinct entry, once
        few = _rematch(svc, work[:2], build)  # one image of each inventory
        many = _rematch(svc, work[2:], build)  # ten images holding the same packages

        after = snapshot(svc, digests)
        assert after != before  # the delta changed findings in every image: writes counted
        consistent(svc.store)  # the fleet page's summaries follow the set-wise writes
        assert all(after[d] != before[d] for d in digests)
        assert many[0] == few[0]  # statements: independent of the images re-matched
        assert 0 < planned == len(distinct)  # each distinct entry matched once, planning
        assert many[1] == few[1] == 0  # the jobs match nothing: they diff in SQL
        # Images holding the same packages ended with the same findings.
        assert all(after[d] == after[digests[i % 2]] for i, d in enumerate(digests))

        written = events(svc)
        advisories.plan(svc.ctx, "", build, Scope(full=True))  # the per-image oracle
        drain(svc)
        assert events(svc) == written and snapshot(svc, digests) == after


def _hidden(inv: Inventory) -> Inventory:
    """``inv`` with every package only in its lower layer: shipped, not visible."""
    layers = (Layer(index=0, digest="sha256:" + "a" * 64, diff_id="sha256:" + "b" * 64,
                    created_by="base"),
              Layer(index=1, digest="sha256:" + "c" * 64, diff_id="sha256:" + "d" * 64,
                    created_by="rm -rf /test"))
    packages = tuple(dataclasses.replace(p, visibility=Visibility.HIDDEN,
                                         locations=(Location(path=p.locations[0].path,
                                                             layer=0),))
                     for p in inv.packages)
    return dataclasses.replace(inv, layers=layers, packages=packages)


def test_a_delta_equals_the_oracle_with_triage_and_a_package_hidden_in_one_image(
        tmp_path: Path, database_url: str | None) -> None:
    with _service(tmp_path, database_url) as svc:
        plain = [_push(svc, INVENTORIES[0], i) for i in range(3)]
        hidden = _push(svc, _hidden(INVENTORIES[0]), 3)
        alpine = _push(svc, INVENTORIES[1], 4)
        digests = [*plain, hidden, alpine]
        first = svc.image(plain[0])
        assert first is not None and first.findings
        # A Debian tracker finding: still open after the edit (the PyPI ones end fixed).
        advisory = next(f.finding.advisory_id for f in first.findings
                        if f.finding.package_purl.startswith("pkg:deb/"))
        svc.triage(TriageDecision(scope=TriageScope.IMAGE, target=plain[1],
                                  advisory_id=advisory, action=TriageAction.VEX, vex_status="not_affected",
                                  vex_justification="vulnerable_code_not_present",
                                  reason="not reachable"), actor="test")
        svc.triage(TriageDecision(scope=TriageScope.REPOSITORY,
                                  target="registry.example/app2", advisory_id=advisory,
                                  action=TriageAction.WAIVE, reason="accepted",
                                  expires=svc.ctx.clock().date() + dt.timedelta(days=365)),
                   actor="test")
        work = _update(tmp_path, svc)
        with convert.open_vulnstore(svc.ctx.db_path) as store:
            advisories.rematch_images(svc.ctx, convert.Judge(store, (), None),
                                      list(work), build=svc.ctx.build_id())
        delta = snapshot(svc, digests)

        def marked(digest: str) -> set[bool]:
            return {row[7] for row in delta[digest] if row[0] == advisory}

        assert marked(plain[0]) == {False} and marked(plain[1]) == {True} and \
            marked(plain[2]) == {True}  # VEX for one image, a waiver for its repository
        visible = {'"visible": false' in row[8] for row in delta[hidden]}
        assert visible == {True} and delta[hidden] != delta[plain[0]]
        assert {'"visible": false' in row[8] for row in delta[plain[0]]} == {False}

        written = events(svc)
        advisories.plan(svc.ctx, "", svc.ctx.build_id(), Scope(full=True))
        drain(svc)
        assert events(svc) == written  # the full re-match found nothing the delta missed
        assert snapshot(svc, digests) == delta


def _moved(inv: Inventory, name: str, *, path: str = "", owner: str = "") -> Inventory:
    """``inv`` with package ``name``'s evidence at ``path`` and/or owned by ``owner``: the
    store's package row (purl, version, layer...) stays the same."""
    packages = tuple(dataclasses.replace(
        p, locations=(Location(path=path or p.locations[0].path, layer=p.layer),),
        owned_by=owner or p.owned_by) if p.name == name else p for p in inv.packages)
    return dataclasses.replace(inv, packages=packages)


def test_images_differing_only_in_an_sbom_field_the_rows_lack_get_their_own_findings(
        tmp_path: Path, database_url: str | None) -> None:
    """Exact grouping: three images hold the same package rows, but chromium's evidence
    path differs in one and a .deb owns salt in another; the delta gives each its own
    findings (the path is in each finding; an owned package is matched as its OS package),
    equal to the full re-match."""
    plain = INVENTORIES[0]
    deb = next(p.purl for p in plain.packages if p.name == "chromium")
    with _service(tmp_path, database_url) as svc:
        digests = [_push(svc, plain, 0),
                   _push(svc, _moved(plain, "chromium", path="/opt/other/status"), 1),
                   _push(svc, _moved(plain, "salt", owner=deb), 2)]
        with svc.store.read() as conn:
            rows = {d: conn.execute(sa.text(
                "SELECT purl, type, ecosystem, name, version, source_name, source_version, "
                "layer, visible FROM packages WHERE image_digest = :d ORDER BY id"),
                {"d": d}).all() for d in digests}
        assert rows[digests[0]] == rows[digests[1]] == rows[digests[2]]  # same package rows
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        build = svc.ctx.build_id()
        _plan_matches(svc, work, old, build)
        _rematch(svc, work, build)
        delta = snapshot(svc, digests)

        def named(digest: str, name: str) -> list[Any]:
            return [row for row in delta[digest] if f"/{name}@" in row[1]]

        assert any(row[2] == "open" for row in named(digests[0], "chromium"))
        assert "/opt/other/status" in str(named(digests[1], "chromium"))
        assert "/opt/other/status" not in str(named(digests[0], "chromium"))
        assert named(digests[2], "salt") != named(digests[0], "salt")
        advisories.plan(svc.ctx, "", build, Scope(full=True))  # the per-image oracle
        drain(svc)
        assert snapshot(svc, digests) == delta


def test_rows_stored_before_entry_hashes_are_rematched_alone_and_correctly(
        tmp_path: Path, database_url: str | None) -> None:
    """Package rows from before migration 0006 have no entry hash: the plan matches no entry
    for them, and the job judges such an image on its own from its SBOM (as the full
    re-match does) while the others share; both end as the oracle says."""
    with _service(tmp_path, database_url) as svc:
        digests = [_push(svc, INVENTORIES[i % 2], i) for i in range(4)]
        with svc.store.write() as conn:
            conn.execute(sa.text("UPDATE packages SET entry_hash = NULL WHERE image_digest = :d"),
                         {"d": digests[0]})
        before = snapshot(svc, digests)
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        build = svc.ctx.build_id()
        _plan_matches(svc, work, old, build)
        _, matched = _rematch(svc, work, build)
        delta = snapshot(svc, digests)
        assert matched > 0  # the image without hashes was judged from its SBOM
        assert delta[digests[0]] != before[digests[0]]
        assert delta[digests[0]] == delta[digests[2]]  # the same inventory, the same findings
        advisories.plan(svc.ctx, "", build, Scope(full=True))
        drain(svc)
        assert snapshot(svc, digests) == delta


def test_two_workers_share_the_matching_of_the_delta_entries(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan matches nothing: it leaves the delta's distinct entries pending. Re-match
    jobs run by two workers at once (threads, each with its own matcher, one entry a
    claim) match each entry exactly once between them before writing, and end where the
    per-image oracle does."""
    monkeypatch.setattr(advisories, "BATCH", 2)  # several jobs for six images
    monkeypatch.setattr(advisories, "CLAIM", 1)  # many claims: the workers interleave
    with _service(tmp_path, database_url) as svc:
        digests = [_push(svc, INVENTORIES[i % 2], i) for i in range(6)]
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        build = svc.ctx.build_id()
        # Distinct entries: a purl in each of the two inventories (their distros differ).
        distinct = {(digests.index(d) % 2, p) for d, purls in work for p in purls}
        learnt = _learning(monkeypatch)
        assert advisories.plan(svc.ctx, old, build, diff_scope(svc)) == 6
        assert learnt == [] and _pending(svc) == len(distinct)  # the plan matched nothing
        jobs = _queued_rematches(svc)
        assert len(jobs) == 3
        spans = [tuple(j["range"]) for j in jobs]  # the workers split the images by range
        assert spans == sorted(spans) and all(a[1] < b[0] for a, b in itertools.pairwise(spans))
        assert [d for d in sorted(digests) if spans[0][0] <= d <= spans[-1][1]] == \
            sorted(digests)

        def worker(mine: list[dict[str, Any]]) -> None:
            for args in mine:
                advisories.rematch(svc.ctx, args)

        threads = [threading.Thread(target=worker, args=(jobs[k::2],)) for k in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(learnt) == sorted(set(learnt)) and len(learnt) == len(distinct)
        assert _pending(svc) == 0
        drain(svc)  # the queued jobs again: nothing left to change
        delta = snapshot(svc, digests)
        written = events(svc)
        advisories.plan(svc.ctx, "", build, Scope(full=True))
        drain(svc)
        assert events(svc) == written and snapshot(svc, digests) == delta


# A worker process that claims the pending entries, matches them and is killed before it
# stores them: its claim's transaction is open (row locks in PostgreSQL, the write lock in
# SQLite) when it dies.
DYING_WORKER = """
import json, signal, sys
from pathlib import Path
from hullcheck.monitor import advisories, convert
from hullcheck.monitor.config import Config
from hullcheck.monitor.context import Context

data_dir, url, args, reached = sys.argv[1], sys.argv[2] or None, json.loads(sys.argv[3]), \\
    Path(sys.argv[4])
learn = convert.Judge.learn

def dying(judge, inv, wanted):
    learn(judge, inv, wanted)
    reached.write_text("matched, not stored")
    signal.pause()  # until the test kills this worker

convert.Judge.learn = dying
advisories.rematch(Context.open(data_dir=Path(data_dir), database_url=url, config=Config()),
                   args)
"""
SRC = Path(__file__).resolve().parents[2] / "src"
WAIT = 120.0  # a bound on waiting for another process to reach a point, not a speed limit


def test_a_worker_killed_mid_match_leaves_its_entries_for_the_others(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real worker process claims the delta's pending entries, matches them and is
    killed (SIGKILL) before storing them; another worker's job waits for that claim
    (PostgreSQL: seen waiting on the lock), then matches every entry once itself, and
    the re-match ends where the per-image oracle does."""
    monkeypatch.setattr(advisories, "BATCH", 2)
    with _service(tmp_path, database_url) as svc:
        digests = [_push(svc, INVENTORIES[i % 2], i) for i in range(4)]
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        build = svc.ctx.build_id()
        distinct = {(digests.index(d) % 2, p) for d, purls in work for p in purls}
        assert advisories.plan(svc.ctx, old, build, diff_scope(svc)) == 4
        first, second = _queued_rematches(svc)
        reached = tmp_path / "reached"
        child = subprocess.Popen(
            [sys.executable, "-c", DYING_WORKER, str(tmp_path / "data"), database_url or "",
             json.dumps(first), str(reached)],
            env={**os.environ, "PYTHONPATH": str(SRC)}, stderr=subprocess.PIPE)
        try:
            _until(lambda: reached.exists() or child.poll() is not None, "the claim")
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            learnt = _learning(monkeypatch)
            other = threading.Thread(target=advisories.rematch, args=(svc.ctx, second))
            other.start()
            if svc.ctx.postgresql:  # the other job waits for the claim, matches nothing yet
                _until(lambda: _waiting_on_a_lock(svc), "the other worker waiting")
                assert learnt == []
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL
        other.join()
        assert sorted(learnt) == sorted(set(learnt)) and len(learnt) == len(distinct)
        assert _pending(svc) == 0
        drain(svc)  # the killed job, retried: its images
        delta = snapshot(svc, digests)
        written = events(svc)
        advisories.plan(svc.ctx, "", build, Scope(full=True))
        drain(svc)
        assert events(svc) == written and snapshot(svc, digests) == delta


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        time.sleep(0.05)


def _waiting_on_a_lock(svc: Service) -> bool:
    with svc.store.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%rematch_pending%'")).scalar_one())


def _learning(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entry hashes every judge matches from now on (``Judge.learn``), in any thread."""
    learnt: list[str] = []
    lock = threading.Lock()
    learn = convert.Judge.learn

    def counting(judge: convert.Judge, inv: Inventory, wanted: Any) -> Any:
        found = learn(judge, inv, wanted)
        with lock:
            learnt.extend(found)
        return found

    monkeypatch.setattr(convert.Judge, "learn", counting)
    return learnt


def _pending(svc: Service) -> int:
    with svc.store.read() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM rematch_pending")).scalar_one())


def _ranged(svc: Service, args: dict[str, Any], build: str) -> tuple[int, int]:
    """A range job's work with a fresh judge: (SQL statements, packages matched)."""
    first, last = args["range"]
    keys = [(k, e) for k, e in args["names"]]
    return _counting(svc, lambda judge: advisories.rematch_range(
        svc.ctx, judge, first, last, keys, build=build))


def test_range_jobs_cost_the_same_statements_for_2_or_10_images_and_match_nothing(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan marks the delta's images in SQL and queues jobs carrying the delta's names
    and a range of digests (no purls); once the pending entries are matched (the first
    job's ``match_pending``), a range of 2 images and one of 10 cost the same statements,
    match nothing, and end where the per-image oracle does."""
    with _service(tmp_path, database_url) as svc:
        digests = sorted(_push(svc, INVENTORIES[i % 2], i) for i in range(12))
        before = snapshot(svc, digests)
        old = svc.ctx.build_id()
        _update(tmp_path, svc)
        build = svc.ctx.build_id()
        monkeypatch.setattr(advisories, "BATCH", 2)
        assert advisories.plan(svc.ctx, old, build, diff_scope(svc)) == 12
        jobs = _queued_rematches(svc)
        assert len(jobs) == 6 and all("images" not in j and "range" in j for j in jobs)
        names = jobs[0]["names"]
        with convert.open_vulnstore(svc.ctx.db_path) as store:  # as the first job does
            assert advisories.match_pending(svc.ctx, convert.Judge(store, (), None), build) > 0
        few = _ranged(svc, jobs[0], build)
        many = _ranged(svc, {"names": names, "range": [digests[2], digests[-1]]}, build)
        after = snapshot(svc, digests)
        assert all(after[d] != before[d] for d in digests)  # every image was re-matched
        consistent(svc.store)
        assert many[0] == few[0]  # statements: independent of the images in the range
        assert many[1] == few[1] == 0  # the jobs match nothing: they diff in SQL
        written = events(svc)
        drain(svc)  # the queued jobs find their images done: nothing changes
        assert events(svc) == written and snapshot(svc, digests) == after
        advisories.plan(svc.ctx, "", build, Scope(full=True))  # the per-image oracle
        drain(svc)
        assert events(svc) == written and snapshot(svc, digests) == after


def diff_scope(svc: Service) -> Scope:
    return Scope(names=frozenset(svc.delta_names))  # type: ignore[attr-defined]


def _queued_rematches(svc: Service) -> list[dict[str, Any]]:
    table = "procrastinate_jobs" if svc.ctx.postgresql else "jobs"
    column = "task_name" if svc.ctx.postgresql else "kind"
    with svc.store.read() as conn:
        found = conn.execute(sa.text(
            f"SELECT args FROM {table} WHERE {column} = 'rematch' ORDER BY id")).scalars().all()
    return [a if isinstance(a, dict) else json.loads(a) for a in found]


def test_a_range_job_judges_alone_rows_without_a_shared_match_and_triaged_images(
        tmp_path: Path, database_url: str | None) -> None:
    """A range job first tries the set-wise write; an image holding rows stored before
    entry hashes makes it write nothing (``setwise.Unserved``) and read the packages, then
    judge that image (and one with a VEX decision) from its SBOM while the others share;
    all end as the per-image oracle says."""
    with _service(tmp_path, database_url) as svc:
        digests = sorted(_push(svc, INVENTORIES[i % 2], i) for i in range(4))
        with svc.store.write() as conn:
            conn.execute(sa.text("UPDATE packages SET entry_hash = NULL WHERE image_digest = :d"),
                         {"d": digests[0]})
        first = svc.image(digests[2])
        assert first is not None and first.findings
        # A Debian tracker finding: still open after the edit (the PyPI ones end fixed).
        advisory = next(f.finding.advisory_id for f in first.findings
                        if f.finding.package_purl.startswith("pkg:deb/"))
        svc.triage(TriageDecision(scope=TriageScope.IMAGE, target=digests[2],
                                  advisory_id=advisory, action=TriageAction.VEX,
                                  vex_status="not_affected",
                                  vex_justification="vulnerable_code_not_present",
                                  reason="not reachable"), actor="test")
        before = snapshot(svc, digests)
        old = svc.ctx.build_id()
        _update(tmp_path, svc)
        build = svc.ctx.build_id()
        assert advisories.plan(svc.ctx, old, build, diff_scope(svc)) == 4
        [job] = [j for j in _queued_rematches(svc) if "range" in j]
        _, matched = _ranged(svc, job, build)
        delta = snapshot(svc, digests)
        assert matched > 0  # the images judged alone were matched from their SBOMs
        assert delta[digests[0]] != before[digests[0]]
        assert {row[7] for row in delta[digests[2]] if row[0] == advisory} == {True}
        written = events(svc)
        advisories.plan(svc.ctx, "", build, Scope(full=True))
        drain(svc)
        assert events(svc) == written and snapshot(svc, digests) == delta


def test_a_range_jobs_transaction_locks_only_its_own_images(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers' range jobs run at once: while a job's write transaction is open, the
    row every job would write (the build's ``advisory_builds`` row) is not locked
    (PostgreSQL, NOWAIT from another connection, checked inside the job's transaction);
    both ranges end as the per-image oracle says."""
    monkeypatch.setattr(advisories, "BATCH", 2)
    with _service(tmp_path, database_url) as svc:
        digests = sorted(_push(svc, INVENTORIES[i % 2], i) for i in range(4))
        old = svc.ctx.build_id()
        _update(tmp_path, svc)
        build = svc.ctx.build_id()
        assert advisories.plan(svc.ctx, old, build, diff_scope(svc)) == 4
        first, second = [j for j in _queued_rematches(svc) if "range" in j]
        apply_range = setwise.apply_range
        checked: list[list[str]] = []

        def checking(conn: sa.Connection, *args: Any, **kwargs: Any) -> setwise.Written:
            written = apply_range(conn, *args, **kwargs)  # the job's transaction is open
            checked.append(written.changed)
            if svc.ctx.postgresql:
                with svc.store.engine.connect() as other, other.begin():
                    other.execute(sa.text("SELECT build_id FROM advisory_builds FOR UPDATE "
                                          "NOWAIT"))
            return written

        monkeypatch.setattr(setwise, "apply_range", checking)
        _ranged(svc, first, build)
        assert checked == [digests[:2]]
        _ranged(svc, second, build)
        delta = snapshot(svc, digests)
        written_events = events(svc)
        advisories.plan(svc.ctx, "", build, Scope(full=True))
        drain(svc)
        assert events(svc) == written_events and snapshot(svc, digests) == delta


def test_a_listed_jobs_transaction_leaves_the_builds_row_unlocked(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs listing their images (a full re-match, KEV changes, missed updates) no
    longer upsert the build's ``advisory_builds`` row in their transaction (the plan noted
    it): while one job writes, the row is free (PostgreSQL, NOWAIT from another
    connection), so two workers' jobs do not wait for each other; the build is still the
    last one matched."""
    from hullcheck.fleet import scans

    monkeypatch.setattr(advisories, "BATCH", 2)
    with _service(tmp_path, database_url) as svc:
        digests = sorted(_push(svc, INVENTORIES[i % 2], i) for i in range(4))
        _update(tmp_path, svc)
        build = svc.ctx.build_id()
        assert advisories.plan(svc.ctx, "", build, Scope(full=True)) == 4
        jobs = _queued_rematches(svc)
        assert len(jobs) == 2 and all("images" in j for j in jobs)
        apply_diffs = scans._apply_diffs
        checked: list[int] = []

        def checking(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
            done = apply_diffs(conn, *args, **kwargs)  # the job's transaction is open
            checked.append(len(done))
            if svc.ctx.postgresql:
                with svc.store.engine.connect() as other, other.begin():
                    other.execute(sa.text("SELECT build_id FROM advisory_builds FOR UPDATE "
                                          "NOWAIT"))
            return done

        monkeypatch.setattr(scans, "_apply_diffs", checking)
        for args in jobs:
            advisories.rematch(svc.ctx, args)
        assert checked == [2, 2]
        with svc.store.read() as conn:
            assert queries.last_build(conn) == build
        assert all(svc.image(d).matched_build == build for d in digests)  # type: ignore[union-attr]


def test_the_plan_costs_the_same_statements_for_2_or_12_images(
        tmp_path: Path, database_url: str | None) -> None:
    """Marking the delta's images and writing its distinct entries (``setwise.plan_named``)
    is one pass over the named package rows: the same statements for 2 images as for 12
    holding the same packages, the same distinct entries pending, and no package matched."""
    with _service(tmp_path, database_url) as svc:
        digests = sorted(_push(svc, INVENTORIES[i % 2], i) for i in range(12))
        old = svc.ctx.build_id()
        work = _update(tmp_path, svc)
        keys = queries.named_keys(svc.delta_names)  # type: ignore[attr-defined]
        distinct = {(digests.index(d) % 2, p) for d, purls in work for p in purls}
        found: dict[int, tuple[int, list[str], int]] = {}
        for count in (2, 12):
            engine = svc.store.engine
            with engine.connect() as conn, conn.begin() as tx:
                conn.execute(sa.text("UPDATE images SET matched_build = 'elsewhere' "
                                     "WHERE digest NOT IN (:a, :b)" if count == 2 else
                                     "SELECT 1"), {"a": digests[0], "b": digests[1]})
                statements = 0

                def counted(*_args: object) -> None:
                    nonlocal statements
                    statements += 1

                sa.event.listen(conn, "before_cursor_execute", counted)
                marked = setwise.plan_named(conn, keys, old=old, marker="delta:new",
                                            build="new")
                sa.event.remove(conn, "before_cursor_execute", counted)
                pending = conn.execute(sa.text("SELECT count(*) FROM rematch_pending")
                                       ).scalar_one()
                found[count] = (statements, marked, pending)
                tx.rollback()
        assert found[2][1] == digests[:2] and found[12][1] == digests
        assert found[2][0] == found[12][0] and found[2][2] == found[12][2] == len(distinct)
