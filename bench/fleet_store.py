"""The fleet store at fleet scale, on SQLite and PostgreSQL.

    .venv/bin/python bench/fleet_store.py [--images 10000] [--packages 100] [--runs 5]
                                          [--backend sqlite|postgresql|both]
                                          [--database-url postgresql://...]

1. Records N synthetic images through ``Store.record_scan`` (one transaction each, as the
   monitor does): ~80 Debian packages each (this machine's dpkg status when present, drawn
   from three "bases" at varied versions, with their source packages) plus ~20 PyPI/npm
   packages from a pool of 20,000 names, and ~5 findings per image; 50 images a repository.
   Prints images/second and the package rows stored.
2. Times (median of --runs) the queries the API and the monitor run: search by package name
   (a package every image has, with a version filter; and a rare one), by advisory alias,
   one page of images by repository with severity counts, one image with its findings, and
   ``packages_named`` over a 1,000-name delta (30 Debian source packages, 485 stored
   language packages, 485 names no image has; rows streamed, per image).

Without --database-url, PostgreSQL mode starts a throwaway server from Debian's postgresql
package (tests/fixtures/postgres.py). Prints figures only; no targets are asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Import nothing from bench/ (a bench script named like a stdlib module would shadow it);
# the repository root is needed for the PostgreSQL fixture in tests/.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT))

from hullcheck import fleet  # noqa: E402
from hullcheck.fleet.model import FindingRow, ImageRecord, LayerRecord, PackageRow  # noqa: E402

DPKG_STATUS = Path("/var/lib/dpkg/status")
LANG_POOL = 20_000  # PyPI and npm names images draw their ~20 language packages from
SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "negligible")


def debian_packages() -> list[tuple[str, str, str]]:
    """(name, version, source) of this machine's Debian packages, or a synthetic set."""
    out = []
    if DPKG_STATUS.is_file():
        for stanza in DPKG_STATUS.read_text(errors="replace").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                          if ": " in line and not line.startswith(" "))
            if "Package" in fields and "Version" in fields:
                source = fields.get("Source", fields["Package"]).split(" ")[0]
                out.append((fields["Package"], fields["Version"], source))
    if len(out) < 300:
        out = [(f"lib{w}{i}", f"{i % 7}.{i % 13}.{i % 5}-{i % 3 + 1}", f"{w}{i}")
               for i, w in enumerate(["ssl", "xml", "z", "ffi", "gcrypt", "curl"] * 60)]
    return out


def make_world(rng: random.Random) -> dict[str, Any]:
    debs = debian_packages()
    bases = [rng.sample(debs, min(80, len(debs))) for _ in range(3)]
    lang = [("PyPI", "pypi", f"py-package-{i}") for i in range(LANG_POOL // 2)] + [
        ("npm", "npm", f"node-package-{i}") for i in range(LANG_POOL // 2)]
    return {"bases": bases, "lang": lang, "debs": debs}


def image_rows(rng: random.Random, world: dict[str, Any], i: int, packages: int,
               ) -> tuple[ImageRecord, list[PackageRow], list[FindingRow]]:
    digest = f"sha256:{i:064x}"
    repo = f"registry.example/team-{i // 50 % 40}/service-{i // 50}"
    rows: list[PackageRow] = []
    base = world["bases"][i % 3]
    n_deb = int(packages * 0.8)
    for name, version, source in base[:n_deb]:
        v = version if rng.random() < 0.8 else f"{version}+b{rng.randint(1, 3)}"
        rows.append(PackageRow(
            purl=f"pkg:deb/debian/{name}@{v}?arch=amd64&distro=debian-12", type="deb",
            ecosystem="Debian:12", name=name, version=v, source_name=source,
            source_version=v, licence="GPL-2.0-or-later", layer=0))
    for eco, ptype, name in rng.sample(world["lang"], packages - len(rows)):
        v = f"{rng.randint(0, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
        rows.append(PackageRow(purl=f"pkg:{ptype}/{name}@{v}", type=ptype, ecosystem=eco,
                               name=name, version=v, licence="MIT", layer=1))
    findings = []
    for pkg in rng.sample(rows, 5):
        cve = f"CVE-2024-{rng.randint(1, 3000):05d}"
        sev = rng.choice(SEVERITIES)
        data = {"id": cve, "aliases": [f"GHSA-{cve[-5:]}"], "severity": sev,
                "package": {"name": pkg.name, "version": pkg.version, "purl": pkg.purl},
                "status": "fixed", "fixedVersions": ["99.0"], "suppressed": None}
        findings.append(FindingRow(advisory_id=cve, package_purl=pkg.purl,
                                   aliases=(f"GHSA-{cve[-5:]}",), severity=sev, cvss=7.0,
                                   fixed_versions=("99.0",), status="fixed", data=data))
    image = ImageRecord(digest=digest, repository=repo, tags=(f"v{i}", "latest"),
                        layers=(LayerRecord(digest=f"sha256:{i + 1:064x}",
                                            diff_id=f"sha256:{i + 2:064x}", size=30_000_000),),
                        sbom=b"x" * 2000)
    return image, rows, findings


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def bench(url: str, label: str, args: argparse.Namespace) -> None:
    rng = random.Random(12)
    world = make_world(rng)
    with fleet.open(url) as store:
        start = time.perf_counter()
        for i in range(args.images):
            store.record_scan(*image_rows(rng, world, i, args.packages))
        took = time.perf_counter() - start
        print(f"[{label}] recorded {args.images} images x {args.packages} packages "
              f"({args.images * args.packages:,} package rows) in {took:.1f} s: "
              f"{args.images / took:,.0f} images/s")
        if args.analyze:
            with store.write() as conn:  # what autovacuum does soon after a bulk load
                conn.exec_driver_sql("ANALYZE")

        common_name, _, _ = world["bases"][0][0]
        common = f"pkg:deb/debian/{common_name}"
        rare = "pkg:pypi/py-package-7"
        queries: list[tuple[str, Callable[[], object]]] = [
            (f"search {common} (every image of a base), version filter",
             lambda: store.images_with_package(common, versions=lambda v: "+b" in v)),
            (f"search {rare} (rare), any version", lambda: store.images_with_package(rare)),
            ("search by name py-package-7 in any ecosystem",
             lambda: store.images_with_package_named("py-package-7")),
            ("search advisory alias GHSA-00042",
             lambda: store.images_with_advisory("GHSA-00042")),
            ("images by repository (one page of 50, counts)",
             lambda: store.images_by_repository("registry.example/team-3/service-3")),
            ("one image with findings and history",
             lambda: store.image(f"sha256:{args.images // 2:064x}")),
        ]
        for name, fn in queries:
            ms, result = median_ms(fn, args.runs)
            size = len(result.images) if isinstance(result, fleet.model.Page) else (
                len(result) if isinstance(result, tuple) else 1)
            print(f"[{label}] {name}: {ms:.1f} ms ({size} images)")

        # An advisory update's delta: a few Debian source packages, many language packages
        # (half of them in no stored image), as a day of OSV and tracker changes looks.
        delta = [("Debian:12", src) for _, _, src in rng.sample(world["debs"], 30)]
        delta += [(eco, name) for eco, _, name in rng.sample(world["lang"], 485)]
        delta += [("PyPI", f"not-stored-{i}") for i in range(1000 - len(delta))]

        def named() -> tuple[int, int]:
            images = rows = 0
            for group in store.packages_named(delta):
                images += 1
                rows += len(group.packages)
            return images, rows

        ms, counted = median_ms(named, max(1, args.runs // 2))
        images, rows = counted  # type: ignore[misc]
        print(f"[{label}] packages_named over a 1,000-name delta: {ms:.0f} ms "
              f"({images:,} images, {rows:,} package rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--database-url", help="an empty PostgreSQL database to fill")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false",
                        help="query before the planner has statistics (no ANALYZE after loading)")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="hullcheck-bench-") as tmp:
            bench(fleet.data_dir_url(Path(tmp)), "sqlite", args)
    if args.backend in ("postgresql", "both"):
        if args.database_url:
            bench(args.database_url, "postgresql", args)
        else:
            from tests.fixtures.postgres import start_postgres

            server = start_postgres()
            try:
                bench(server.url(server.create_database()), "postgresql", args)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
