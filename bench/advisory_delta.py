"""Advisory delta speed on the real database built from ../shared/data (needs that folder).

    .venv/bin/python bench/advisory_delta.py [--data DIR] [--db PATH] [--changed 1000] [--runs 5]

1. Builds the full database from everything in the shared data folder (OSV PyPI, Go,
   RustSec, malicious packages, Alpine secdb, the Debian tracker sample, CISA KEV), or uses
   ``--db``, a database built from it before.
2. Copies it and changes ``--changed`` records in the copy, as an update that moves fixes
   does: in that many ``packages`` rows picked at random (seeded), one advisory's statement
   gets another fixed version (or, without a fix event, one more listed version). Written in
   place with SQLite, so the table keeps its primary-key order.
3. Times ``diff(original, copy)`` (databases opened fresh each run, best of N) and a plain
   full scan of one ``packages`` table (every row fetched, nothing compared), and prints
   both and their ratio: a diff reads two tables, so about 2x is the floor. Also times
   ``diff(None, copy)`` (no previous database). Checks that the delta names exactly the
   changed keys.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is sys.path[0] when run as a script: import nothing from there.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from hullcheck.vulndb import Source, SourceKind, VulnStore, build  # noqa: E402
from hullcheck.vulndb.delta import diff  # noqa: E402


def sources(data: Path) -> list[Source]:
    def s(name: str, kind: SourceKind, rel: str) -> Source:
        return Source(name=name, kind=kind, locations=(str(data / rel),))

    return [
        s("osv-pypa", SourceKind.OSV, "osv/pypa"),
        s("osv-go", SourceKind.OSV, "osv/go"),
        s("osv-rustsec", SourceKind.OSV, "osv/rustsec"),
        s("osv-malicious", SourceKind.OSV, "osv/malicious-packages"),
        s("debian-tracker", SourceKind.DEBIAN,
          "distro/format-samples/debian-tracker-json-sample.json"),
        s("alpine-secdb", SourceKind.ALPINE, "distro/alpine-secdb"),
        s("cisa-kev", SourceKind.KEV, "kev/known_exploited_vulnerabilities.json"),
    ]


def edit(record: list[object]) -> None:
    """Move the first fix of one statement (the positional form of ``store.record_to_json``),
    or list one more version when it has no fix."""
    for rng in record[8]:  # type: ignore[attr-defined]
        for i in range(2, len(rng), 2):
            if rng[i] == "fixed":
                rng[i + 1] = f"{rng[i + 1]}.1"
                return
    versions = record[9]
    record[9] = [*versions, "0.0.0-bench"] if isinstance(versions, list) else \
        (f"{versions}\n0.0.0-bench" if versions else "0.0.0-bench")


def changed_copy(db: Path, dest: Path, n: int) -> set[tuple[str, str]]:
    shutil.copyfile(db, dest)
    conn = sqlite3.connect(dest)
    try:
        keys = conn.execute("SELECT ecosystem, package_key FROM packages").fetchall()
        picked = random.Random(12).sample(keys, min(n, len(keys)))
        for ecosystem, key in picked:
            (text,) = conn.execute("SELECT records FROM packages WHERE ecosystem = ? AND "
                                   "package_key = ?", (ecosystem, key)).fetchone()
            records = json.loads(text)
            edit(records[0])
            conn.execute("UPDATE packages SET records = ? WHERE ecosystem = ? AND package_key = ?",
                         (json.dumps(records, separators=(",", ":")), ecosystem, key))
        conn.commit()
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return set(picked)


def best(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def scan(db: Path) -> int:
    with VulnStore.open(db, cache_size=0) as store:
        return sum(1 for _ in store.iter_rows(
            "SELECT ecosystem, package_key, records FROM packages ORDER BY ecosystem, package_key"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--db", type=Path, help="a database already built from the shared data")
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if db is None:
            if not (args.data / "osv").is_dir():
                print(f"advisory delta: the shared data folder {args.data} is absent; this "
                      "benchmark needs the real database built from it: nothing measured "
                      "(pass --data DIR or --db PATH)", file=sys.stderr)
                return 2
            db = Path(tmp) / "full.db"
            result = build(db, sources(args.data))
            print(f"built the full database: {result.advisories} advisories, {result.affected} "
                  f"package entries, {db.stat().st_size / 1e6:.0f} MB in {result.seconds:.0f}s")
        copy = Path(tmp) / "changed.db"
        picked = changed_copy(db, copy, args.changed)
        delta = diff(db, copy)
        assert delta.names() == picked, "the delta does not name exactly the changed keys"
        rows = scan(db)
        took = best(args.runs, lambda: diff(db, copy))
        floor = best(args.runs, lambda: scan(db))
        everything = best(max(1, args.runs // 2), lambda: diff(None, copy))
        print(f"delta: {len(picked)} of {rows} package rows changed; diff named "
              f"{len(delta.names())} keys and {len(delta.advisories)} advisories")
        print(f"diff(old, new) {took:.3f}s; full scan of one packages table {floor:.3f}s; "
              f"ratio {took / floor:.2f}x (floor ~2x: two tables read)")
        print(f"diff(None, new) {everything:.3f}s (no previous database: everything new)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
