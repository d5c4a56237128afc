"""The advisory delta: two real databases (built by ``hullcheck db import`` from real records,
some edited here as an update would edit them) and what ``diff`` says changed between them;
and the property the monitor relies on: re-matching only what the delta names gives the same
findings as matching everything again."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck.cli.main import main
from hullcheck.ecosystem import osv_ecosystem
from hullcheck.errors import DatabaseError, FormatError
from hullcheck.match import MatchResult, match
from hullcheck.model import Distro, Inventory, Package, PackageType, Severity
from hullcheck.vulndb import Source, SourceKind, VulnStore, build
from hullcheck.vulndb.delta import (
    AdvisoryChange,
    AdvisoryDelta,
    Change,
    KevDelta,
    PackageDelta,
    Scope,
    diff,
)
from tests.match.support import BOOKWORM, inventory, pkg
from tests.vulndb.conftest import FIXTURES

DELTA = FIXTURES / "delta"
TRACKER = FIXTURES / "distro" / "debian-tracker-json-sample.json"
ALPINE = FIXTURES / "distro" / "alpine-secdb-v3.15-main-sample.yaml"
KEV = DELTA / "kev" / "known_exploited_vulnerabilities-salt-webp.json"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def osv(record_id: str) -> dict[str, Any]:
    for folder in (DELTA / "pypa", FIXTURES / "osv" / "pypa"):
        if (folder / f"{record_id}.json").exists():
            return load(folder / f"{record_id}.json")
    raise AssertionError(record_id)


def alpine_doc() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(ALPINE.read_text())


def write_set(root: Path, *, osv_records: Iterable[dict[str, Any]], tracker: dict[str, Any],
              alpine: dict[str, Any], kev: dict[str, Any]) -> list[str]:
    """One update's advisory files, laid out the same way each time (so source names agree)."""
    (root / "pypa").mkdir(parents=True)
    for r in osv_records:
        (root / "pypa" / f"{r['id']}.json").write_text(json.dumps(r, indent=2))
    (root / "debian-tracker.json").write_text(json.dumps(tracker))
    (root / "alpine-v3.15-main.json").write_text(json.dumps(alpine))
    (root / "kev.json").write_text(json.dumps(kev))
    return [str(root / n) for n in ("pypa", "debian-tracker.json", "alpine-v3.15-main.json",
                                    "kev.json")]


def db_import(db: Path, paths: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "--db", str(db), "import", "--replace", *paths])
    err = capsys.readouterr().err
    assert code == 0, err


BEFORE_OSV = ("PYSEC-2018-28", "PYSEC-2023-74", "PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2020-102")


def before_and_after(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Set A, and set B = A with: PYSEC-2023-74's fixed version changed, PYSEC-2019-217
    withdrawn, PYSEC-2026-1794 (pillow) added, sope's bookworm entry dropped from the Debian
    tracker (its advisory lives on in other releases), zlib dropped from Alpine's secdb (its
    two advisories are gone), and CVE-2023-4863 added to KEV."""
    kev_all = load(KEV)
    kev_a = {**kev_all, "vulnerabilities": [v for v in kev_all["vulnerabilities"]
                                            if v["cveID"] != "CVE-2023-4863"]}
    a = write_set(tmp_path / "a", osv_records=[osv(i) for i in BEFORE_OSV], tracker=load(TRACKER),
                  alpine=alpine_doc(), kev=kev_a)

    refixed = osv("PYSEC-2023-74")
    for rng in refixed["affected"][0]["ranges"]:
        if rng["type"] == "ECOSYSTEM":
            assert rng["events"][-1] == {"fixed": "2.31.0"}
            rng["events"][-1] = {"fixed": "2.32.0"}
    withdrawn = {**osv("PYSEC-2019-217"), "withdrawn": "2026-01-02T00:00:00Z"}
    records = [osv(i) for i in BEFORE_OSV if i not in ("PYSEC-2023-74", "PYSEC-2019-217")]
    tracker = load(TRACKER)
    del tracker["sope"]["CVE-2025-53603"]["releases"]["bookworm"]
    alpine = alpine_doc()
    alpine["packages"] = [p for p in alpine["packages"] if p["pkg"]["name"] != "zlib"]
    b = write_set(tmp_path / "b", osv_records=[*records, refixed, withdrawn,
                                               osv("PYSEC-2026-1794")],
                  tracker=tracker, alpine=alpine, kev=kev_all)
    return a, b


def test_delta_names_exactly_what_changed(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    a, b = before_and_after(tmp_path)
    db_import(tmp_path / "a.db", a, capsys)
    db_import(tmp_path / "b.db", b, capsys)

    delta = diff(tmp_path / "a.db", tmp_path / "b.db")

    assert delta.packages == (
        PackageDelta(ecosystem="Alpine:v3.15", key="zlib", change=Change.REMOVED,
                     advisories=("ALPINE-CVE-2018-25032", "ALPINE-CVE-2022-37434")),
        PackageDelta(ecosystem="Debian:12", key="sope", change=Change.REMOVED,
                     advisories=("DEBIAN-CVE-2025-53603",)),
        PackageDelta(ecosystem="PyPI", key="jinja2", change=Change.CHANGED,
                     advisories=("PYSEC-2019-217",)),
        PackageDelta(ecosystem="PyPI", key="pillow", change=Change.ADDED,
                     advisories=("PYSEC-2026-1794",)),
        PackageDelta(ecosystem="PyPI", key="requests", change=Change.CHANGED,
                     advisories=("PYSEC-2023-74",)),
    )
    assert delta.advisories == (
        AdvisoryDelta(id="ALPINE-CVE-2018-25032", change=AdvisoryChange.WITHDRAWN,
                      aliases=("CVE-2018-25032",)),
        AdvisoryDelta(id="ALPINE-CVE-2022-37434", change=AdvisoryChange.WITHDRAWN,
                      aliases=("CVE-2022-37434",)),
        # Gone from bookworm only: still live in bullseye, trixie and sid.
        AdvisoryDelta(id="DEBIAN-CVE-2025-53603", change=AdvisoryChange.CHANGED,
                      aliases=("CVE-2025-53603",)),
        AdvisoryDelta(id="PYSEC-2019-217", change=AdvisoryChange.WITHDRAWN,
                      aliases=("CVE-2019-10906", "GHSA-462w-v97r-4m45")),
        AdvisoryDelta(id="PYSEC-2023-74", change=AdvisoryChange.CHANGED,
                      aliases=("CVE-2023-32681", "GHSA-j8r2-6x86-q33q")),
        AdvisoryDelta(id="PYSEC-2026-1794", change=AdvisoryChange.ADDED,
                      aliases=("CVE-2023-4863", "GHSA-j7hp-h8jx-5ppr")),
    )
    assert delta.kev == (KevDelta(cve="CVE-2023-4863", change=Change.ADDED),)
    assert not delta.full
    assert delta.names() == {("Alpine:v3.15", "zlib"), ("Debian:12", "sope"),
                             ("PyPI", "jinja2"), ("PyPI", "pillow"), ("PyPI", "requests")}
    # A binary package is found through its source package; PyPI names compare normalised.
    assert delta.touches("Debian:12", "libsope1", "sope")
    assert not delta.touches("Debian:11", "sope")
    assert delta.touches("PyPI", "Jinja2")
    assert not delta.touches("PyPI", "salt")


def test_the_other_way_round_reverses_every_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = before_and_after(tmp_path)
    db_import(tmp_path / "a.db", a, capsys)
    db_import(tmp_path / "b.db", b, capsys)
    forward = diff(tmp_path / "a.db", tmp_path / "b.db")
    back = diff(tmp_path / "b.db", tmp_path / "a.db")
    flip = {Change.ADDED: Change.REMOVED, Change.REMOVED: Change.ADDED,
            Change.CHANGED: Change.CHANGED}
    assert [(p.ecosystem, p.key, flip[p.change], p.advisories) for p in forward.packages] == \
        [(p.ecosystem, p.key, p.change, p.advisories) for p in back.packages]
    assert {a.id: a.change for a in back.advisories} == {
        "ALPINE-CVE-2018-25032": AdvisoryChange.ADDED,
        "ALPINE-CVE-2022-37434": AdvisoryChange.ADDED,
        "DEBIAN-CVE-2025-53603": AdvisoryChange.CHANGED,
        "PYSEC-2019-217": AdvisoryChange.ADDED,  # withdrawn → live again
        "PYSEC-2023-74": AdvisoryChange.CHANGED,
        "PYSEC-2026-1794": AdvisoryChange.WITHDRAWN,
    }
    assert back.kev == (KevDelta(cve="CVE-2023-4863", change=Change.REMOVED),)


def test_same_database_is_an_empty_delta_and_none_means_everything_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = before_and_after(tmp_path)
    db_import(tmp_path / "a.db", a, capsys)
    shutil.copyfile(tmp_path / "a.db", tmp_path / "copy.db")
    same = diff(tmp_path / "a.db", tmp_path / "copy.db")
    assert same.empty and same.names() == frozenset() and same.scope().to_json() == {
        "full": False, "names": {}, "kev": [], "rated": []}

    everything = diff(None, tmp_path / "a.db")
    assert everything.full
    with sqlite3.connect(tmp_path / "a.db") as conn:
        keys = set(conn.execute("SELECT ecosystem, package_key FROM packages"))
        live = {r[0] for r in conn.execute("SELECT id FROM advisories WHERE withdrawn = ''")}
    assert everything.names() == keys
    assert {a.id for a in everything.advisories} == live
    assert {k.cve for k in everything.kev} == {"CVE-2020-11651", "CVE-2020-11652",
                                               "CVE-2020-16846"}
    assert everything.touches("npm", "anything") and everything.scope().to_json() == {"full": True}


def test_a_store_opened_before_the_swap_keeps_its_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The update replaces the file; a store opened before still reads the old one, so it can
    be the 'old' side of the diff against the new file at the same path."""
    a, b = before_and_after(tmp_path)
    db = tmp_path / "vuln.db"
    db_import(db, a, capsys)
    with VulnStore.open(db) as before:
        db_import(db, b, capsys)
        delta = diff(before, db)
    assert {p.key for p in delta.packages} == {"zlib", "sope", "jinja2", "pillow", "requests"}


def test_scope_json_is_compact_bounded_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = before_and_after(tmp_path)
    db_import(tmp_path / "a.db", a, capsys)
    db_import(tmp_path / "b.db", b, capsys)
    delta = diff(tmp_path / "a.db", tmp_path / "b.db")
    doc = delta.to_json()
    assert doc == {"full": False,
                   "names": {"Alpine:v3.15": ["zlib"], "Debian:12": ["sope"],
                             "PyPI": ["jinja2", "pillow", "requests"]},
                   "kev": ["CVE-2023-4863"],
                   "rated": sorted({i.upper() for a in delta.advisories
                                    for i in (a.id, *a.aliases)})}
    assert doc["rated"]  # the changed advisories' ids and aliases
    scope = Scope.from_json(json.loads(json.dumps(doc)))
    assert scope == delta.scope()
    assert scope.touches("PyPI", "Pillow") and not scope.touches("PyPI", "salt")
    assert scope.touches_kev(["GHSA-x", "CVE-2023-4863"]) and not scope.touches_kev(["CVE-1"])
    assert scope.touches_rating(["x", doc["rated"][0].lower()])
    assert not scope.touches_rating(["CVE-1"])
    # Six keys (five packages, one CVE): past a limit of five the scope says "full".
    assert delta.to_json(limit=6)["full"] is False
    assert delta.to_json(limit=5) == {"full": True}
    assert Scope.from_json({"full": True}).touches("npm", "x")

    for bad, message in [
        ([], "expected an object with a boolean 'full'"),
        ({"full": "no"}, "expected an object with a boolean 'full'"),
        ({"full": False, "names": {"PyPI": "requests"}}, "'names' must map ecosystems"),
        ({"full": False, "names": {"PyPI": [1]}}, "'names' must map ecosystems"),
        ({"full": False, "names": {}, "kev": "CVE-1"}, "'kev' must be a list"),
    ]:
        with pytest.raises(FormatError, match=message):
            Scope.from_json(bad, what="job 7 arguments")


def test_missing_or_corrupt_database_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = before_and_after(tmp_path)
    db_import(tmp_path / "a.db", a, capsys)
    with pytest.raises(DatabaseError, match="no vulnerability database"):
        diff(tmp_path / "a.db", tmp_path / "missing.db")
    broken = tmp_path / "broken.db"
    shutil.copyfile(tmp_path / "a.db", broken)
    with sqlite3.connect(broken) as conn:
        conn.execute("UPDATE packages SET records = '[[' WHERE package_key = 'requests'")
    with pytest.raises(DatabaseError, match=r"broken.db is corrupt \(records of PyPI requests"):
        diff(tmp_path / "a.db", broken)


# --- The property: delta re-match equals full re-match --------------------------------------
#
# A pool of real records, each present as published, absent, or edited the way updates edit
# records (withdrawn; fix moved; a distro fix retracted; a secdb fix dropped). Two random
# states of the pool give databases A and B.

OSV_POOL = ("PYSEC-2014-13", "PYSEC-2015-17", "PYSEC-2023-74", "PYSEC-2018-28", "PYSEC-2019-217",
            "PYSEC-2021-66", "PYSEC-2020-102", "PYSEC-2020-103", "PYSEC-2020-104",
            "PYSEC-2017-35", "PYSEC-2017-151", "PYSEC-2026-1794", "PYSEC-2023-227",
            "PYSEC-2019-133")
TRACKER_POOL = (("chromium", "CVE-2022-0456"), ("sope", "CVE-2025-53603"),
                ("txt2man", "CVE-2013-1444"))
ALPINE_POOL = ("xz", "zlib", "zstd")
KEV_POOL = ("CVE-2020-11651", "CVE-2020-11652", "CVE-2020-16846", "CVE-2023-4863")
ABSENT, AS_PUBLISHED, EDITED, WITHDRAWN = range(4)


def osv_edited(record: dict[str, Any]) -> dict[str, Any]:
    """The fix moved to 1.0 and the explicit version list dropped: most versions unaffected."""
    r = copy.deepcopy(record)
    for affected in r["affected"]:
        affected.pop("versions", None)
        for rng in affected.get("ranges", []):
            if rng["type"] == "ECOSYSTEM":
                rng["events"] = [{"introduced": "0"}, {"fixed": "1.0"}]
    return r


def tracker_edited(entry: dict[str, Any]) -> dict[str, Any]:
    """Bookworm's fix retracted: open, no fixed version."""
    e = copy.deepcopy(entry)
    release = e["releases"].get("bookworm")
    if release is not None:
        release.pop("fixed_version", None)
        release["status"] = "open"
    return e


def build_pool_db(path: Path, states: list[int]) -> VulnStore:
    it = iter(states)
    root = path.parent / (path.stem + "-src")
    (root / "pypa").mkdir(parents=True)
    for rid in OSV_POOL:
        state = next(it)
        if state == ABSENT:
            continue
        record = osv(rid)
        if state == EDITED:
            record = osv_edited(record)
        elif state == WITHDRAWN:
            record = {**record, "withdrawn": "2026-01-02T00:00:00Z"}
        (root / "pypa" / f"{rid}.json").write_text(json.dumps(record))
    full_tracker = load(TRACKER)
    tracker: dict[str, Any] = {}
    for package, cve in TRACKER_POOL:
        state = next(it)
        if state != ABSENT:
            entry = full_tracker[package][cve]
            tracker.setdefault(package, {})[cve] = entry if state == AS_PUBLISHED \
                else tracker_edited(entry)
    secdb = alpine_doc()
    kept = []
    for p in secdb["packages"]:
        if p["pkg"]["name"] not in ALPINE_POOL:
            continue
        state = next(it)
        if state == ABSENT:
            continue
        if state == AS_PUBLISHED:
            kept.append(p)
        else:  # the newest fix dropped
            fixes = p["pkg"]["secfixes"]
            kept.append({"pkg": {**p["pkg"], "secfixes": dict(list(fixes.items())[:-1]) or fixes}})
    secdb["packages"] = kept
    kev = load(KEV)
    listed = {cve for cve in KEV_POOL if next(it) != ABSENT}
    kev["vulnerabilities"] = [v for v in kev["vulnerabilities"] if v["cveID"] in listed]
    (root / "tracker.json").write_text(json.dumps(tracker))
    (root / "secdb.json").write_text(json.dumps(secdb))
    (root / "kev.json").write_text(json.dumps(kev))
    build(path, [
        Source(name="osv-pypa", kind=SourceKind.OSV, locations=(str(root / "pypa"),)),
        Source(name="debian", kind=SourceKind.DEBIAN, locations=(str(root / "tracker.json"),)),
        Source(name="alpine", kind=SourceKind.ALPINE, locations=(str(root / "secdb.json"),)),
        Source(name="kev", kind=SourceKind.KEV, locations=(str(root / "kev.json"),)),
    ])
    return VulnStore.open(path)


@contextmanager
def two_dbs(a_states: list[int], b_states: list[int]) -> Iterator[tuple[VulnStore, VulnStore]]:
    with tempfile.TemporaryDirectory() as tmp, \
            build_pool_db(Path(tmp) / "a.db", a_states) as a, \
            build_pool_db(Path(tmp) / "b.db", b_states) as b:
        yield a, b


POOL_SIZE = len(OSV_POOL) + len(TRACKER_POOL) + len(ALPINE_POOL) + len(KEV_POOL)
ALPINE_315 = Distro(id="alpine", version_id="3.15.4", name="Alpine Linux")
PYTHON = [pkg(PackageType.PYTHON, "requests", "2.19.0"), pkg(PackageType.PYTHON, "Jinja2", "2.10"),
          pkg(PackageType.PYTHON, "salt", "2019.2.0"), pkg(PackageType.PYTHON, "Pillow", "9.0.0"),
          pkg(PackageType.PYTHON, "urllib3", "1.24.1")]
INVENTORIES = (
    inventory(pkg(PackageType.DEB, "chromium", "97.0.4692.99-1",
                  source=("chromium", "97.0.4692.99-1")),
              pkg(PackageType.DEB, "libsope1", "5.8.0-1", source=("sope", "5.8.0-1")),
              pkg(PackageType.DEB, "txt2man", "1.5.5-4"), *PYTHON, distro=BOOKWORM),
    inventory(pkg(PackageType.APK, "xz-libs", "5.2.5-r0", source=("xz", "5.2.5-r0")),
              pkg(PackageType.APK, "zlib", "1.2.12-r1", source=("zlib", "1.2.12-r1")),
              pkg(PackageType.APK, "zstd-libs", "1.4.4-r0", source=("zstd", "1.4.4-r0")),
              *PYTHON, distro=ALPINE_315),
)


def revisit(inv: Inventory, before: MatchResult, scope: Scope) -> list[Package]:
    """The packages a re-matcher must look at: searched under a name the scope names (its own
    name, or its source package's), or holding a finding whose KEV entry changed, or one its
    own records rate not at all whose ids an added, changed or withdrawn advisory names."""
    kev_hit = {f.package.purl for f in before.findings if scope.touches_kev(f.ids)
               or ((f.severity is Severity.UNKNOWN or f.severity_from)
                   and scope.touches_rating(f.ids))}
    out = []
    for p in inv.packages:
        names = [p.name] + ([p.source.name] if p.source is not None else [])
        if p.purl in kev_hit or scope.touches(osv_ecosystem(p.type, inv.distro), *names):
            out.append(p)
    return out


def rematch(inv: Inventory, before: MatchResult, store: VulnStore, scope: Scope
            ) -> tuple[list[Any], list[Any]]:
    redo = revisit(inv, before, scope)
    again = {p.purl for p in redo}
    fresh = match(inv, store, packages=redo)
    findings = [f for f in before.findings if f.package.purl not in again] + list(fresh.findings)
    skipped = [s for s in before.skipped if s.package.purl not in again] + list(fresh.skipped)
    return findings, skipped


def canonical(findings: Iterable[Any], skipped: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    return (sorted(findings, key=lambda f: (f.package.purl, f.id)),
            sorted(skipped, key=lambda s: (s.package.purl, s.advisory, s.reason)))


# Mostly as published, so that two states share most records and a small edit stands out.
STATE = st.sampled_from([ABSENT, AS_PUBLISHED, AS_PUBLISHED, AS_PUBLISHED, EDITED, WITHDRAWN])
STATES = st.lists(STATE, min_size=POOL_SIZE, max_size=POOL_SIZE)


@st.composite
def two_states(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A and B: independent, or (more often) B = A with one to four records edited — the
    shape of a real update, where KEV-only and single-record changes occur."""
    a = draw(STATES)
    if draw(st.integers(0, 3)) == 0:
        return a, draw(STATES)
    b = list(a)
    # Any record; or a KEV entry, whose changes name no package and so need the most care.
    where = st.integers(0, POOL_SIZE - 1) | st.integers(POOL_SIZE - len(KEV_POOL), POOL_SIZE - 1)
    for i, state in draw(st.lists(st.tuples(where, STATE), min_size=1, max_size=4)):
        b[i] = state
    return a, b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_states())
def test_rematching_what_the_delta_names_equals_matching_everything(
    states: tuple[list[int], list[int]]
) -> None:
    with two_dbs(*states) as (a, b):
        scope = Scope.from_json(json.loads(json.dumps(diff(a, b).to_json(limit=None))))
        for inv in INVENTORIES:
            before = match(inv, a)
            full = match(inv, b)
            assert canonical(*rematch(inv, before, b, scope)) == \
                canonical(full.findings, full.skipped)


def test_a_kev_only_update_is_carried_to_findings() -> None:
    """KEV gains CVE-2020-11651 and nothing else changes: no package is named, the CVE is,
    and re-matching the findings that name it sets their KEV entry as a full match does."""
    without = [AS_PUBLISHED] * POOL_SIZE
    without[POOL_SIZE - len(KEV_POOL) + KEV_POOL.index("CVE-2020-11651")] = ABSENT
    with two_dbs(without, [AS_PUBLISHED] * POOL_SIZE) as (a, b):
        delta = diff(a, b)
        assert delta.names() == frozenset() and delta.advisories == ()
        assert delta.kev == (KevDelta(cve="CVE-2020-11651", change=Change.ADDED),)
        inv = INVENTORIES[0]
        before, full = match(inv, a), match(inv, b)
        salt = [f for f in full.findings if "CVE-2020-11651" in f.ids]
        assert len(salt) == 1 and salt[0].kev is not None
        assert [p.name for p in revisit(inv, before, delta.scope())] == ["salt"]
        assert canonical(*rematch(inv, before, b, delta.scope())) == \
            canonical(full.findings, full.skipped)


def test_the_property_has_teeth() -> None:
    """The pool states used above do change findings: all published vs all edited differ for
    each inventory, and the delta between them is not full (so the property tests a delta)."""
    with two_dbs([AS_PUBLISHED] * POOL_SIZE, [EDITED] * POOL_SIZE) as (a, b):
        delta = diff(a, b)
        assert not delta.full and delta.names()
        for inv in INVENTORIES:
            before, after = match(inv, a), match(inv, b)
            assert before.findings and canonical(before.findings, ()) != \
                canonical(after.findings, ())
            # Matching only the packages the delta does NOT name changes nothing.
            untouched = [p for p in inv.packages if p not in revisit(inv, before, delta.scope())]
            assert canonical(match(inv, a, packages=untouched).findings, ()) == \
                canonical(match(inv, b, packages=untouched).findings, ())


def test_scope_touches_patterns_as_the_matcher_searches_them() -> None:
    """RHEL packages are searched under patterns (one per product stream); a delta naming
    one stream's record must reach them."""
    scope = Scope(names=frozenset({("Red Hat:enterprise_linux:9::appstream", "openssl"),
                                   ("Ubuntu:Pro:22.04:LTS", "curl")}))
    assert scope.touches("Red Hat:enterprise_linux:9::*", "openssl-libs", "openssl")
    assert not scope.touches("Red Hat:enterprise_linux:8::*", "openssl")
    assert scope.touches("Ubuntu:Pro:22.04:LTS", "curl")
    assert not scope.touches("Ubuntu:22.04:LTS", "curl")


def _pypa_db(path: Path, ids: Iterable[str]) -> VulnStore:
    root = path.parent / (path.stem + "-src")
    (root / "pypa").mkdir(parents=True)
    for rid in ids:
        shutil.copy(DELTA / "pypa" / f"{rid}.json", root / "pypa" / f"{rid}.json")
    build(path, [Source(name="osv-pypa", kind=SourceKind.OSV, locations=(str(root / "pypa"),))])
    return VulnStore.open(path)


@pytest.mark.parametrize("added", [True, False], ids=["rating-added", "rating-removed"])
def test_an_alias_advisory_of_another_package_is_revisited(tmp_path: Path, added: bool) -> None:
    """PYSEC-2016-13 (trytond) rates CVE-2016-1242 not at all; PYSEC-2016-41 names tryton
    only, with a CVSS 3 rating of the same CVE, so trytond's finding takes its rating. Adding
    (or removing) the tryton record names no package an image with trytond holds: the
    scope's ``rated`` ids must still send that finding back to the matcher."""
    inv = inventory(pkg(PackageType.PYTHON, "trytond", "3.2.0"))
    with _pypa_db(tmp_path / "a.db", ["PYSEC-2016-13"]) as a, \
            _pypa_db(tmp_path / "b.db", ["PYSEC-2016-13", "PYSEC-2016-41"]) as b:
        old, new = (a, b) if added else (b, a)
        before, after = match(inv, old), match(inv, new)
        assert [f.severity for f in before.findings] != [f.severity for f in after.findings]
        scope = diff(old, new).scope()
        assert not scope.touches("PyPI", "trytond")  # no record naming trytond changed
        assert "CVE-2016-1242" in scope.rated
        assert canonical(*rematch(inv, before, new, scope)) == \
            canonical(after.findings, after.skipped)
        assert Scope.from_json(scope.to_json()) == scope
