"""Applying a large VEX document: statements indexed by vulnerability id, not findings x statements.

    .venv/bin/python bench/vex_apply.py [--statements 300000] [--findings 20] [--runs 3]

Writes an OpenVEX document of N statements (each a CVE id and a GHSA alias, a package
product), loads it with ``vex.load_vex`` and times ``vex.apply`` for F findings (half found
by their id, half by an alias), best of the runs. The baseline is a single pass over the
statements reading each one's ids into a set: the least any application must do. Before the
index, 300,000 statements for 20 findings took 166 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from hullcheck.match.model import Finding, Status  # noqa: E402
from hullcheck.model import Location, Package, PackageType, Severity  # noqa: E402
from hullcheck.vex import Statement, apply, load_vex  # noqa: E402
from hullcheck.vulndb.severity import UNKNOWN  # noqa: E402

REQUESTS = Package(type=PackageType.PYTHON, name="requests", version="2.19.0",
                   purl="pkg:pypi/requests@2.19.0", found_by="bench",
                   locations=(Location(path="/x"),))


def document(n: int) -> dict[str, object]:
    return {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/v",
            "author": "bench", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
            "statements": [{"vulnerability": {"name": f"CVE-2000-{i}", "aliases": [f"GHSA-{i}"]},
                            "status": "not_affected", "justification": "component_not_present",
                            "products": [{"@id": "pkg:pypi/requests@2.19.0"}]}
                           for i in range(n)]}


def findings(n_statements: int, n: int) -> list[Finding]:
    step = max(n_statements // max(n, 1), 1)
    return [Finding(package=REQUESTS, id=f"CVE-2000-{i * step}" if i % 2 else f"X-{i}",
                    aliases=() if i % 2 else (f"GHSA-{i * step}",), severity=Severity.MEDIUM,
                    score=UNKNOWN, status=Status.FIXED, fixed_versions=())
            for i in range(n)]


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def single_pass(statements: list[Statement]) -> None:
    for st in statements:
        set(st.vulnerability)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=300_000)
    ap.add_argument("--findings", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    gc.freeze()  # as the CLI's tune_gc does: the loaded statements are long-lived
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.vex.json"
        path.write_text(json.dumps(document(args.statements)))
        started = time.perf_counter()
        statements = load_vex(path)
        load_t = time.perf_counter() - started
    found = findings(args.statements, args.findings)
    out, _ = apply(found, statements, today=date(2024, 1, 1))
    suppressed = sum(f.suppressed is not None for f in out)
    apply_t = best(lambda: apply(found, statements, today=date(2024, 1, 1)), args.runs)
    pass_t = best(lambda: single_pass(statements), args.runs)
    print(f"{args.statements:,} statements ({path.name}, loaded in {load_t:.2f}s), "
          f"{args.findings} findings, {suppressed} suppressed")
    print(f"apply {apply_t:.3f}s  single pass {pass_t:.3f}s  ratio {apply_t / pass_t:.1f} "
          f"(best of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
