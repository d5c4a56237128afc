"""Matching speed over the real advisory data in ../shared/data (needs that folder).

    .venv/bin/python bench/match.py [--data DIR] [--packages 5000] [--runs 5] [--profile]

1. Imports everything in the shared data folder (OSV PyPI, Go, RustSec, malicious packages,
   Alpine secdb, the Debian tracker sample, CISA KEV) into a fresh database and prints the
   import rate in records/second.
2. Builds an inventory of N real-looking packages sampled from that data — PyPI, npm
   (malicious-package names), Go and crates.io names at versions taken from the records'
   own events and version lists (so many of them match), plus Debian packages (this
   machine's dpkg status, on Debian 12, matched through their source packages) — and times
   ``match()`` with a freshly opened store each run (cold), then again with the store's and
   the matcher's caches warm; best of N runs.

Prints packages/second; the target is >= 50,000 packages/second on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is sys.path[0] when run as a script; a bench module named like a standard module
# (a bench script named like a stdlib module would shadow it): import nothing from there.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from hullcheck.cli.main import tune_gc  # noqa: E402
from hullcheck.match import Matcher  # noqa: E402
from hullcheck.model import (  # noqa: E402
    Distro,
    ImageSource,
    Inventory,
    Location,
    Package,
    PackageType,
    SourcePackage,
)
from hullcheck.vulndb import Source, SourceKind, VulnStore, build  # noqa: E402

TARGET = 50_000
MIX = (("PyPI", PackageType.PYTHON, 0.35), ("npm", PackageType.NPM, 0.20),
       ("Go", PackageType.GO, 0.15), ("crates.io", PackageType.CARGO, 0.05))  # rest: Debian
BOOKWORM = Distro(id="debian", version_id="12", codename="bookworm")


def sources(data: Path) -> list[Source]:
    def s(name: str, kind: SourceKind, *rel: str) -> Source:
        return Source(name=name, kind=kind, locations=tuple(str(data / r) for r in rel))

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


def _versions(data: dict[str, object]) -> list[str]:
    out = [str(v) for v in data.get("versions", [])]  # type: ignore[attr-defined]
    for r in data.get("ranges", []):  # type: ignore[attr-defined]
        for e in r["events"]:
            out.extend(v for v in e.values() if v != "0")
    return out or ["1.0.0"]


def _dpkg_packages(status: Path = Path("/var/lib/dpkg/status")) -> list[tuple[str, str, str]]:
    out = []
    try:
        text = status.read_text(errors="replace")
    except OSError:
        return [("libsope1", "5.8.0-1", "sope"), ("chromium", "98.0.4758.80-1", "chromium")]
    for stanza in text.split("\n\n"):
        f = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line
                 and not line.startswith(" "))
        if "Package" in f and "Version" in f:
            src = f.get("Source", f["Package"]).split(" ")[0]
            out.append((f["Package"], f["Version"], src))
    return out


def inventory(db: Path, n: int, seed: int = 1) -> Inventory:
    rnd = random.Random(seed)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pkgs: list[Package] = []

    def add(ptype: PackageType, name: str, version: str,
            source: SourcePackage | None = None) -> None:
        pkgs.append(Package(type=ptype, name=name, version=version,
                            purl=f"pkg:{ptype.value}/{name}@{version}", found_by="bench",
                            locations=(Location(path=f"/bench/{len(pkgs)}", layer=0),),
                            source=source))

    for eco, ptype, share in MIX:
        rows = conn.execute("SELECT package, MIN(data) FROM affected WHERE ecosystem = ? "
                            "GROUP BY package ORDER BY package", (eco,)).fetchall()
        for name, data in rnd.sample(rows, min(len(rows), int(n * share))):  # distinct names
            version = rnd.choice(_versions(json.loads(data)))
            if ptype is PackageType.GO and not version.startswith("v"):
                version = "v" + version
            add(ptype, name, version)
    debs = _dpkg_packages()
    tracker = conn.execute("SELECT package, data FROM affected WHERE ecosystem = 'Debian:12'"
                           ).fetchall()
    for name, data in tracker:
        add(PackageType.DEB, name, rnd.choice(_versions(json.loads(data))),
            SourcePackage(name=name, version=""))
    while len(pkgs) < n:
        bname, version, src = rnd.choice(debs)
        add(PackageType.DEB, bname, version, SourcePackage(name=src, version=""))
    conn.close()
    return Inventory(source=ImageSource(kind="bench", name="bench"), distro=BOOKWORM,
                     packages=tuple(pkgs[:n]))


def time_match(db: Path, inv: Inventory, runs: int) -> tuple[float, float, float, int, int]:
    """Best of ``runs``: cold (a freshly opened store and a new matcher), warm store (a new
    matcher on a store that has read these names) and warm (the same matcher again, as the
    server matches many images)."""
    cold = warm_store = warm = float("inf")
    findings, skipped = 0, 0
    for _ in range(runs):
        with VulnStore.open(db) as store:
            started = time.perf_counter()
            matcher = Matcher(store)
            result = matcher.match(inv)
            cold = min(cold, time.perf_counter() - started)
            started = time.perf_counter()
            matcher.match(inv)
            warm = min(warm, time.perf_counter() - started)
            started = time.perf_counter()
            Matcher(store).match(inv)
            warm_store = min(warm_store, time.perf_counter() - started)
        findings, skipped = len(result.findings), len(result.skipped)
    return cold, warm_store, warm, findings, skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--packages", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    ap.add_argument("--default-gc", action="store_true",
                    help="keep Python's default GC thresholds (default: the CLI's, as "
                         "'hullcheck scan' runs)")
    args = ap.parse_args()
    if not args.default_gc:
        tune_gc()
    if not (args.data / "osv").is_dir():
        print(f"ABSENT: no shared advisory data at {args.data} (expected osv/, distro/, kev/); "
              "nothing measured. Pass --data DIR.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "vuln.db"
        result = build(db, sources(args.data))
        records = sum(s.records + s.errors + s.duplicates for s in result.sources)
        print(f"import: {records:,} records in {result.seconds:.1f}s = "
              f"{records / result.seconds:,.0f} records/s "
              f"({result.advisories:,} advisories, {result.affected:,} package entries, "
              f"{result.kev:,} KEV; db {db.stat().st_size / 1e6:.0f} MB)")
        inv = inventory(db, args.packages)
        counts: dict[str, int] = {}
        for p in inv.packages:
            counts[p.type.value] = counts.get(p.type.value, 0) + 1
        print("inventory: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        cold, warm_store, warm, findings, skipped = time_match(db, inv, args.runs)
        n = len(inv.packages)
        for label, best in (("cold store", cold), ("warm store, new matcher", warm_store),
                            ("warm matcher", warm)):
            rate = n / best
            print(f"match: {n:,} packages in {best * 1000:.1f} ms (best of {args.runs}, "
                  f"{label}) = {rate:,.0f} packages/s; target >= {TARGET:,}/s: "
                  f"{'met' if rate >= TARGET else 'NOT met'}")
        print(f"match: {findings:,} findings, {skipped:,} skipped")
        if args.profile:
            with VulnStore.open(db) as store:
                prof = cProfile.Profile()
                prof.enable()
                Matcher(store).match(inv)
                prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
