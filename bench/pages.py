"""The web pages at fleet scale: each page's time, end to end, in SQLite and PostgreSQL modes.

    .venv/bin/python bench/pages.py [--images 10000] [--packages 100] [--runs 7]
                                    [--backend sqlite|postgresql|both] [--database-url URL]

1. Loads a fleet into an empty store through the store's own tables (multi-row inserts in
   large transactions, as ``fleet.scans`` writes them, so 1M package rows load in seconds
   rather than the hour ``record_scan`` one image at a time would take): N images of 50 a
   repository in 40 teams, 2 layers each, ~100 packages each (80 Debian from 3 bases, 20
   PyPI/npm from a pool of 20,000), ~5 findings each (a few KEV, malicious, fixable critical)
   with their names and history spread over 30 days, deployments in 3 clusters for a third,
   owners, base assessments (some stale or end of life), policy decisions (some failing),
   secret-found events, 90 days of trend counts; the images' risk summary (revision 0004)
   rebuilt from them, as the store's writes would have kept it. Then ``ANALYZE``.
2. Serves the service's app (API and pages) with uvicorn on 127.0.0.1, signs in as a
   browser does, and times each page over HTTP (median of --runs after one warm-up): the
   fleet (plain, filtered by owner, by cluster, page 20 of the images at risk), an image,
   its package search, an advisory in many images and in few, search by purl, by name, by
   repository and the settings. Target: each under 200 ms. Wall time, and the CPU time of
   this process (server and client); in PostgreSQL mode with the server started here also
   the CPU time of the database's processes on the request. On a shared machine under load
   the wall time includes waiting for a core; the CPU times do not.

Without --database-url, PostgreSQL mode starts a throwaway server from Debian's postgresql
package (tests/fixtures/postgres.py). Prints figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from hullcheck import fleet  # noqa: E402
from hullcheck.fleet import schema as t  # noqa: E402
from hullcheck.fleet import summary  # noqa: E402
from hullcheck.fleet.sql import name_key, purl_base  # noqa: E402

TARGET_MS = 200.0
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "negligible",
              "unknown")
BASES = ("debian:12", "debian:11", "python:3.12-slim")
CLUSTERS = ("prod-eu", "prod-us", "staging")
BATCH = 20_000  # rows per multi-row insert


def debian_names() -> list[tuple[str, str, str]]:
    words = ["ssl", "xml", "z", "ffi", "gcrypt", "curl", "systemd", "pam", "krb5", "sqlite",
             "expat", "ncurses", "readline", "zstd", "lzma", "bz2", "gnutls", "idn", "nettle"]
    return [(f"lib{w}{i}", f"{i % 7}.{i % 13}.{i % 5}-{i % 3 + 1}", f"{w}{i // 3}")
            for i, w in enumerate(words * 30)]


def rows_for(rng: random.Random, i: int, packages: int,
             bases: list[list[tuple[str, str, str]]]) -> dict[str, list[dict[str, Any]]]:
    digest = f"sha256:{i:064x}"
    team = i // 50 % 40
    repo = f"registry.example/team-{team}/service-{i // 50}"
    seen = NOW - dt.timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 1440))
    base = None
    if i % 4 == 0:
        stale, eol = i % 12 == 0, i % 40 == 0
        base = {"base": {"identifiedBy": "catalog", "reference": BASES[i % 3]},
                "freshness": {"upToDate": not stale, "summary": "rebuilt 12 days after its base"
                              if stale else "up to date", "tag": BASES[i % 3]},
                "eol": {"state": "end-of-life" if eol else "supported", "reason": ""},
                "advice": {"summary": "rebuild on the current base: fixes 3 high"}}
    policy = {"outcome": "fail" if i % 25 == 0 else "pass", "policy": "production",
              "violations": []} if i % 2 == 0 else None
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "images", "tags", "owners", "layers", "packages", "findings", "deployments", "events")}
    out["images"].append(dict(
        digest=digest, repository=repo, status="scanned", error="", media_type="", created=seen,
        labels={"org.opencontainers.image.authors": f"team-{team}@example.org"}, base=base,
        policy=policy, signatures=[], first_seen=seen, first_scanned=seen, last_scanned=seen,
        matched_build="bench"))
    out["tags"].append(dict(repository=repo, tag=f"v{i}", image_digest=digest,
                            first_seen=seen, last_seen=seen, current=True))
    out["owners"].append(dict(image_digest=digest, owner=f"team-{team}@example.org"))
    for pos, created_by in enumerate(("FROM debian:12", "RUN pip install -r requirements")):
        out["layers"].append(dict(image_digest=digest, position=pos, digest=f"sha256:{i:062x}{pos:02x}",
                                  diff_id=f"sha256:{(i % 3) if pos == 0 else i:062x}{pos:02x}",
                                  size=30_000_000, created_by=created_by))
    pkgs = []
    for name, version, source in bases[i % 3][:int(packages * 0.8)]:
        purl = f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"
        pkgs.append(dict(image_digest=digest, purl=purl, purl_base=purl_base(purl), type="deb",
                         ecosystem="Debian:12", name=name, name_key=name_key("Debian:12", name),
                         version=version, source_name=source,
                         source_key=name_key("Debian:12", source), source_version=version,
                         licence="GPL-2.0-or-later", layer=0, visible=rng.random() > 0.01))
    for k in rng.sample(range(20_000), packages - len(pkgs)):
        eco, ptype = ("PyPI", "pypi") if k % 2 else ("npm", "npm")
        name = f"{ptype}-package-{k}"
        version = f"{rng.randint(0, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
        purl = f"pkg:{ptype}/{name}@{version}"
        pkgs.append(dict(image_digest=digest, purl=purl, purl_base=purl_base(purl), type=ptype,
                         ecosystem=eco, name=name, name_key=name_key(eco, name), version=version,
                         source_name="", source_key="", source_version="", licence="MIT",
                         layer=1, visible=True))
    out["packages"] = pkgs
    for pkg in rng.sample(pkgs, 5):
        cve = f"CVE-2024-{rng.randint(1, 3000):05d}"
        sev = "malicious" if rng.random() < 0.002 else rng.choice(SEVERITIES)
        fixed = ["99.0"] if rng.random() < 0.6 else []
        first = NOW - dt.timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 1440))
        state = "fixed" if rng.random() < 0.1 else "open"
        out["findings"].append(dict(
            image_digest=digest, advisory_id=cve, package_purl=pkg["purl"],
            aliases=[f"GHSA-{cve[-5:]}"], severity=sev, cvss=7.5, kev=rng.random() < 0.01,
            fixed_versions=fixed, status="fixed" if fixed else "not-fixed",
            suppressed=rng.random() < 0.05, suppressed_reason="", state=state,
            first_seen=first, fixed_at=first + dt.timedelta(days=1) if state == "fixed" else None,
            updated_at=first,
            data={"id": cve, "aliases": [f"GHSA-{cve[-5:]}"], "severity": sev,
                  "summary": "a synthetic advisory for the bench",
                  "package": {"name": pkg["name"], "version": pkg["version"],
                              "purl": pkg["purl"]}, "fixedVersions": fixed}))
    if i % 3 == 0:
        out["deployments"].append(dict(cluster=CLUSTERS[i // 3 % 3], namespace=f"team-{team}",
                                       workload=f"service-{i // 50}", container="app",
                                       image_digest=digest, reported_at=NOW))
    if i % 20 == 0:
        out["events"].append(dict(uid=f"{i:032x}", type="secret-found", image_digest=digest,
                                  created_at=seen, payload={"event": "secret-found", "count": 1,
                                                            "secrets": [{"title": "AWS key",
                                                                         "severity": "critical",
                                                                         "path": "/app/.env",
                                                                         "match": "AKIA*****"}]}))
    return out


def insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[start:start + BATCH])


def load(url: str, images: int, packages: int) -> dict[str, int]:
    rng = random.Random(13)
    debs = debian_names()
    bases = [rng.sample(debs, min(90, len(debs))) for _ in range(3)]
    counts: dict[str, int] = {}
    with fleet.open(url) as store:
        pending: dict[str, list[dict[str, Any]]] = {}
        tables = {"images": t.images, "tags": t.tags, "owners": t.owners, "layers": t.layers,
                  "packages": t.packages, "deployments": t.deployments, "events": t.events}

        def flush() -> None:
            with store.write() as conn:
                for name, table in tables.items():
                    insert(conn, table, pending.get(name, []))
                insert(conn, t.findings, pending.get("findings", []))
            for name, rows in pending.items():
                counts[name] = counts.get(name, 0) + len(rows)
            pending.clear()

        for i in range(images):
            for name, rows in rows_for(rng, i, packages, bases).items():
                pending.setdefault(name, []).extend(rows)
            if len(pending.get("packages", [])) >= 200_000:
                flush()
        flush()
        with store.write() as conn:  # names and history of every finding, then the trend
            f = t.findings.c
            rows = conn.execute(sa.select(f.id, f.advisory_id, f.aliases, f.first_seen, f.state,
                                          f.fixed_at)).all()
            names, history = [], []
            for r in rows:
                names += [{"finding_id": r.id, "name": r.advisory_id.upper()}] + [
                    {"finding_id": r.id, "name": a.upper()} for a in r.aliases]
                history.append({"finding_id": r.id, "at": r.first_seen, "change": "new",
                                "reason": "scan", "details": {}})
                if r.state == "fixed":
                    history.append({"finding_id": r.id, "at": r.fixed_at, "change": "fixed",
                                    "reason": "scan", "details": {}})
            insert(conn, t.finding_names, names)
            insert(conn, t.finding_history, history)
            counts["finding_history"] = len(history)
            trend = []
            for d in range(90):
                day = NOW.date() - dt.timedelta(days=89 - d)
                for k, sev in enumerate(("critical", "high", "medium", "low")):
                    trend.append({"day": day, "severity": sev, "open": 2000 * (4 - k) + d * 7,
                                  "new": 40 - k * 5, "fixed": 30 - k * 4})
            insert(conn, t.daily_counts, trend)
            # rows loaded by hand skip the store's writes: summarise them as 0004 does
            summary.rebuild(conn)
            conn.exec_driver_sql("ANALYZE")
    return counts


def pages(images: int) -> list[tuple[str, str]]:
    mid = f"sha256:{images // 2:064x}"
    return [
        ("fleet", "/"),
        ("fleet, owner filter", "/?owner=team-7%40example.org"),
        ("fleet, cluster filter", "/?cluster=prod-eu"),
        ("fleet, images at risk page 20", "/?page=20"),
        ("image", f"/images/{mid}"),
        ("image, package search", f"/images/{mid}/packages?pq=lib"),
        ("advisory in many images", "/advisories/{advisory}"),
        ("advisory by alias", "/advisories/{alias}"),
        ("search purl (every image of a base)", "/search?q=pkg:deb/debian/{common}"),
        ("search package name", "/search?q=pypi-package-7"),
        ("search repository", "/search?q=registry.example/team-3/service-3"),
        ("settings", "/settings"),
    ]


def server_cpu(postmaster_pid: int) -> Callable[[], float]:
    """CPU seconds used so far by a PostgreSQL server's backends (the postmaster's children,
    nanoseconds from /proc/PID/schedstat): the database's own work on a request, which the
    bench's process time does not see and which, unlike the wall time, a loaded machine
    does not inflate. Read before and after a request, outside its timing."""
    def used() -> float:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster_pid:  # the parent pid
                    total += int((stat.parent / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue  # a process that ended meanwhile
        return total / 1e9
    return used


def measure(url: str, label: str, args: argparse.Namespace, data_dir: Path,
            database_cpu: Callable[[], float] | None = None) -> dict[str, float]:
    from hullcheck.fleet.model import Scope
    from hullcheck.monitor.service import Service
    from hullcheck.server.api_serve import ApiServer
    from hullcheck.server.pages import create_app

    start = time.perf_counter()
    if args.reuse and (data_dir / "fleet.db").exists():
        with fleet.open(url) as store, store.read() as conn:
            counts = {name: int(conn.execute(sa.select(sa.func.count()).select_from(table))
                                .scalar_one())
                      for name, table in (("images", t.images), ("packages", t.packages),
                                          ("findings", t.findings),
                                          ("finding_history", t.finding_history))}
    else:
        counts = load(url, args.images, args.packages)
    print(f"[{label}] loaded {counts['images']:,} images, {counts['packages']:,} package rows, "
          f"{counts['findings']:,} findings ({counts['finding_history']:,} history rows) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    figures: dict[str, float] = {}
    database_url = None if url.startswith("sqlite") else url
    with Service.open(data_dir=data_dir, database_url=database_url) as service:
        _, token = service.create_token(f"bench-{time.time_ns()}", Scope.ADMIN, actor="bench")
        with service.store.read() as conn:
            common = conn.execute(sa.select(t.packages.c.name).where(
                t.packages.c.type == "deb").limit(1)).scalar_one()
            f = t.findings.c
            advisory = conn.execute(sa.select(f.advisory_id).group_by(f.advisory_id)
                                    .order_by(sa.func.count().desc()).limit(1)).scalar_one()
        server = ApiServer(create_app(service), host="127.0.0.1", port=0).start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as c:
                nonce = re.search(r'name="login" value="([^"]+)"', c.get("/login").text)
                assert nonce is not None
                r = c.post("/login", data={"login": nonce.group(1), "token": token})
                assert r.status_code == 303, r.text
                for name, template in pages(args.images):
                    path = template.replace("{common}", common).replace(
                        "{advisory}", advisory).replace("{alias}", "GHSA-" + advisory[-5:])
                    times, cpu, db = [], [], []
                    for run in range(args.runs + 1):
                        db_before = database_cpu() if database_cpu else 0.0
                        began, began_cpu = time.perf_counter(), time.process_time()
                        r = c.get(path)
                        took = (time.perf_counter() - began) * 1000
                        took_cpu = (time.process_time() - began_cpu) * 1000
                        took_db = (database_cpu() - db_before) * 1000 if database_cpu else 0.0
                        assert r.status_code == 200, (path, r.status_code, r.text[:300])
                        if run:  # the first run warms caches
                            times.append(took)
                            cpu.append(took_cpu)
                            db.append(took_db)
                    ms, cpu_ms = statistics.median(times), statistics.median(cpu)
                    figures[name] = round(ms, 1)
                    figures[name + " (cpu)"] = round(cpu_ms, 1)
                    also = ""
                    if database_cpu:
                        figures[name + " (db cpu)"] = round(statistics.median(db), 1)
                        also = f", {statistics.median(db):.1f} ms CPU of the database"
                    flag = "" if ms < TARGET_MS else f"  OVER {TARGET_MS:.0f} ms"
                    print(f"[{label}] {name}: {ms:.1f} ms wall, {cpu_ms:.1f} ms CPU of this "
                          f"process{also} ({len(r.content) // 1024} KiB){flag}", flush=True)
        finally:
            server.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--database-url", help="an empty PostgreSQL database to fill")
    parser.add_argument("--sqlite-dir", type=Path,
                        help="keep the SQLite fleet here (default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true",
                        help="with --sqlite-dir: measure the fleet already there")
    args = parser.parse_args()
    result: dict[str, Any] = {"images": args.images, "packageRows": args.images * args.packages,
                              "targetMs": TARGET_MS}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="hullcheck-bench-pages-") as tmp:
            data = args.sqlite_dir or Path(tmp) / "data"
            data.mkdir(exist_ok=True, parents=True)
            result["sqlite"] = measure(fleet.data_dir_url(data), "sqlite", args, data)
    if args.backend in ("postgresql", "both"):
        with tempfile.TemporaryDirectory(prefix="hullcheck-bench-pages-") as tmp:
            if args.database_url:
                result["postgresql"] = measure(args.database_url, "postgresql", args, Path(tmp))
            else:
                from tests.fixtures.postgres import start_postgres

                server = start_postgres()
                try:
                    pid = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
                    result["postgresql"] = measure(server.url(server.create_database()),
                                                   "postgresql", args, Path(tmp),
                                                   database_cpu=server_cpu(pid))
                finally:
                    server.stop()
    slowest = max((v for k in ("sqlite", "postgresql") for n, v in result.get(k, {}).items()
                   if not n.endswith("(cpu)")), default=0.0)
    result["slowestMs"] = slowest
    result["allUnderTarget"] = slowest < TARGET_MS
    print(json.dumps(result))


if __name__ == "__main__":
    main()
