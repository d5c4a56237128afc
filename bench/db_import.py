"""Import rate of the advisory database over everything in ../shared/data (needs that folder).

    .venv/bin/python bench/db_import.py [DATA_DIR]

Builds a database from all OSV records (PyPI, Go, RustSec, malicious packages), the Alpine
secdb files, the Debian tracker sample and the KEV catalog, and prints records per second
for the whole build (parse + validate + insert + index + fsync + swap), then the lookup rate.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hullcheck.vulndb import Source, SourceKind, VulnStore, build


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "shared" / "data"
    if not (data / "osv").is_dir():
        print(f"no data at {data}; pass the shared data folder", file=sys.stderr)
        return 2
    sources = [
        Source(name="osv-pypa", kind=SourceKind.OSV, locations=(str(data / "osv/pypa"),)),
        Source(name="osv-go", kind=SourceKind.OSV, locations=(str(data / "osv/go"),)),
        Source(name="osv-rustsec", kind=SourceKind.OSV, locations=(str(data / "osv/rustsec"),)),
        Source(
            name="osv-malicious",
            kind=SourceKind.OSV,
            locations=(str(data / "osv/malicious-packages"),),
        ),
        Source(
            name="debian-tracker",
            kind=SourceKind.DEBIAN,
            locations=(str(data / "distro/format-samples/debian-tracker-json-sample.json"),),
        ),
        Source(
            name="alpine-secdb",
            kind=SourceKind.ALPINE,
            locations=(str(data / "distro/alpine-secdb"),),
        ),
        Source(
            name="cisa-kev",
            kind=SourceKind.KEV,
            locations=(str(data / "kev/known_exploited_vulnerabilities.json"),),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "vuln.db"
        result = build(db, sources)
        records = sum(s.records + s.errors + s.duplicates for s in result.sources)
        for s in result.sources:
            print(f"  {s.name:16} {s.records:7} stored {s.errors:5} rejected {s.duplicates:5} dup")
        print(
            f"import: {records} records in {result.seconds:.1f}s = "
            f"{records / result.seconds:,.0f} records/s; db {db.stat().st_size / 1e6:.1f} MB"
        )
        with VulnStore.open(db, cache_size=0) as store:
            names = [r[0] for r in store._rows(  # a benchmark may peek
                "SELECT DISTINCT package FROM affected WHERE ecosystem = 'npm' LIMIT 5000", ()
            )]
            started = time.perf_counter()
            hits = sum(len(store.lookup("npm", n)) for n in names)
            took = time.perf_counter() - started
        print(f"lookup: {len(names)} npm packages ({hits} records), uncached, "
              f"{len(names) / took:,.0f} lookups/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
