"""The monitoring service at fleet scale: 100,000 stored images, an advisory delta of 1,000
records, the delta re-match against a full re-match, with 1 and 2 worker processes.

    .venv/bin/python bench/fleet.py [--backend postgresql|sqlite] [--images N] [--delta 1000]
                                    [--workers 1,2] [--data ../shared/data]

1. Advisory data: the real OSV records under ``--data`` (``osv/pypa``, ``osv/go``,
   ``osv/rustsec``) and Alpine's secdb (``distro/alpine-secdb/v3.11``); absent: one line
   and exit 2. State A is every record but ``--delta`` of them (seeded); state B is all.
2. Inventory (real package sets, varied versions): bases from this machine's dpkg status
   (the corpus-like Debian images are made of the same packages) and from Alpine's secdb
   (its package names at the versions its fixes name), each in three variants; 400 "app
   layers" of 30 language packages each: this interpreter's installed distributions
   (real names and versions) and names the OSV records affect, at versions the records
   list as affected or name as fixed. Image i = base (i mod 6) + app (a hash of i): images
   share package sets as real fleets do (~2,400 distinct inventories).
3. Load: each distinct inventory is encoded (native SBOM) and matched against A once; the
   first image of each goes in through ``Store.bulk_load`` (COPY in PostgreSQL), every
   other image is cloned from it in the database (``clone``: INSERT ... SELECT per table).
   Prints images/s and the database size per image and per package row.
4. Re-match: for each worker count and kind (delta: ``advisories.plan`` with the delta's
   scope; full: every package of every image, or of a random ``--full-sample`` of them on
   larger fleets, its time extrapolated), the loaded store is cloned (PostgreSQL:
   ``CREATE DATABASE ... TEMPLATE``; SQLite: the file), ``hullcheck worker`` processes
   start (procrastinate workers in PostgreSQL mode, one job at a time each), the plan is
   queued and timed until no re-match job is left. The findings of the sample (all images
   without one) after each run are compared (every finding's key, state, severity, KEV,
   fixes, status, marks and data), and the load average is noted.

Target: the delta re-match of 100,000 images in under 2 minutes. Last line: one JSON
object with the figures and ``"equal": true|false``. PostgreSQL mode starts a throwaway
server (tests/fixtures/postgres.py) unless ``--database-url`` names an empty database
(then clones need CREATEDB).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT))

import sqlalchemy as sa  # noqa: E402

from hullcheck import ecosystem, fleet, sbom, vulndb  # noqa: E402
from hullcheck.fleet.bulk import Loaded  # noqa: E402
from hullcheck.model import (  # noqa: E402
    Distro,
    ImageSource,
    Inventory,
    Location,
    Package,
    PackageType,
    SourcePackage,
)
from hullcheck.monitor import advisories, convert  # noqa: E402
from hullcheck.monitor.config import Config  # noqa: E402
from hullcheck.monitor.context import BUILD_FILE, Context, file_build_id  # noqa: E402
from hullcheck.vulndb.build import Source, SourceKind  # noqa: E402
from hullcheck.vulndb.delta import Scope, diff  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
OSV_DIRS = ("pypa", "go", "rustsec")
ALPINE = Path("distro/alpine-secdb/v3.11/main.json")
DPKG_STATUS = Path("/var/lib/dpkg/status")
BOOKWORM = Distro(id="debian", version_id="12", codename="bookworm", name="Debian GNU/Linux")
ALPINE_311 = Distro(id="alpine", version_id="3.11.6", name="Alpine Linux")
OSV_TYPES = {"PyPI": PackageType.PYTHON, "Go": PackageType.GO, "crates.io": PackageType.CARGO}
PLACEHOLDER = "sha256:" + "f" * 64  # the digest in each SBOM template, replaced per image
APPS = 400
APP_PACKAGES = 30
BASE_PACKAGES = 80
POLL = 0.2
TODAY = dt.date(2026, 9, 1)  # the marks' "today" (no VEX or ignore rule expires here)


class Absent(Exception):
    """The advisory data is not where the bench was told to look."""


def log(text: str) -> None:
    print(text, flush=True)


# -- advisory data ---------------------------------------------------------------------------


@dataclass
class Advisories:
    records: dict[str, Path]  # id -> file
    names: dict[str, list[tuple[str, list[str]]]]  # ecosystem -> (name, versions it lists)
    alpine: Path | None


def read_advisories(data: Path) -> Advisories:
    dirs = [data / "osv" / d for d in OSV_DIRS]
    if not all(d.is_dir() for d in dirs):
        missing = ", ".join(str(d) for d in dirs if not d.is_dir())
        raise Absent(f"advisory data absent: {missing} (the shared OSV records; see "
                     "../shared/data/SOURCES.md, or pass --data)")
    records: dict[str, Path] = {}
    names: dict[str, dict[str, list[str]]] = {e: {} for e in OSV_TYPES}
    for d in dirs:
        for path in sorted(d.glob("*.json")):
            doc = json.loads(path.read_bytes())
            if doc.get("withdrawn"):
                continue
            records[doc["id"]] = path
            for a in doc.get("affected", []):
                pkg = a.get("package", {})
                eco = pkg.get("ecosystem")
                if eco not in names or not pkg.get("name"):
                    continue
                versions = names[eco].setdefault(pkg["name"], [])
                versions.extend(v for v in a.get("versions", [])[-4:] if isinstance(v, str))
                for r in a.get("ranges", []):
                    versions.extend(str(e["fixed"]) for e in r.get("events", [])
                                    if "fixed" in e and r.get("type") != "GIT")
    alpine = data / ALPINE
    return Advisories(records=records,
                      names={e: [(n, v) for n, v in sorted(ns.items()) if v]
                             for e, ns in names.items()},
                      alpine=alpine if alpine.is_file() else None)


def build_state(root: Path, adv: Advisories, leave_out: set[str]) -> Path:
    """A vuln.db from every record but ``leave_out`` (and Alpine's secdb); its path."""
    osv = root / "osv"
    osv.mkdir(parents=True)
    for rid, path in adv.records.items():
        if rid not in leave_out:  # a link, not a symlink: the importer refuses those
            try:
                os.link(path, osv / path.name)
            except OSError:
                shutil.copyfile(path, osv / path.name)
    sources = [Source(name="osv", kind=SourceKind.OSV, locations=(str(osv),))]
    if adv.alpine is not None:
        sources.append(Source(name="alpine", kind=SourceKind.ALPINE,
                              locations=(str(adv.alpine),)))
    db = root / "advisories" / "vuln.db"
    db.parent.mkdir(parents=True)
    vulndb.build(db, sources)
    db.with_name(BUILD_FILE).write_text(file_build_id(db) + "\n")
    return db


# -- the inventory ----------------------------------------------------------------------------


def debian_packages() -> list[tuple[str, str, str]]:
    out = []
    if DPKG_STATUS.is_file():
        for stanza in DPKG_STATUS.read_text(errors="replace").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                          if ": " in line and not line.startswith(" "))
            if "Package" in fields and "Version" in fields:
                out.append((fields["Package"], fields["Version"],
                            fields.get("Source", fields["Package"]).split(" ")[0]))
    return sorted(set(out))


def alpine_packages(path: Path | None) -> list[tuple[str, list[str]]]:
    if path is None:
        return []
    doc = json.loads(path.read_bytes())
    return [(p["pkg"]["name"], sorted(p["pkg"].get("secfixes") or {}))
            for p in doc.get("packages", []) if p.get("pkg", {}).get("secfixes")]


def _package(ptype: PackageType, name: str, version: str, layer: int, *,
             distro: Distro | None = None, source: str = "") -> Package:
    namespace = ecosystem.purl_namespace(distro, "") if distro else None
    qualifiers = {"distro": f"{distro.id}-{distro.version_id}"} if distro else None
    return Package(type=ptype, name=name, version=version,
                   purl=ecosystem.purl(ptype, name, version, namespace=namespace,
                                       qualifiers=qualifiers),
                   found_by="bench", locations=(Location(path=f"/layer{layer}/{name}",
                                                         layer=layer),),
                   source=SourcePackage(name=source, version=version) if source else None)


def make_bases(rng: random.Random, adv: Advisories) -> list[tuple[Distro, list[Package]]]:
    bases: list[tuple[Distro, list[Package]]] = []
    debs = debian_packages()
    if debs:
        for _ in range(3):
            picked = rng.sample(debs, min(BASE_PACKAGES, len(debs)))
            bases.append((BOOKWORM, [_package(PackageType.DEB, n, v, 0, distro=BOOKWORM,
                                              source=s) for n, v, s in picked]))
    apks = [a for a in alpine_packages(adv.alpine) if ".." not in a[0]]
    if apks:
        for _ in range(3):
            picked = rng.sample(apks, min(BASE_PACKAGES // 2, len(apks)))
            bases.append((ALPINE_311, [_package(PackageType.APK, n, _recent(rng, vs), 0,
                                                distro=ALPINE_311, source=n)
                                       for n, vs in picked]))
    if not bases:
        bases.append((BOOKWORM, []))
    return bases


def make_apps(rng: random.Random, adv: Advisories, count: int) -> list[list[Package]]:
    """Language layers: this interpreter's distributions (real name and version, or a
    version an advisory lists) and packages the records name, at their listed versions."""
    pool: list[tuple[PackageType, str, list[str]]] = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pool.append((PackageType.PYTHON, name, [dist.version]))
    for eco, names in adv.names.items():
        pool.extend((OSV_TYPES[eco], n, vs) for n, vs in names)
    apps = []
    for _ in range(count):
        chosen: dict[str, Package] = {}
        for ptype, name, versions in rng.sample(pool, min(APP_PACKAGES, len(pool))):
            version = _recent(rng, versions)
            if ptype is PackageType.GO and not version.startswith("v"):
                version = "v" + version
            chosen.setdefault(name, _package(ptype, name, version, 1))
        apps.append(list(chosen.values()))
    return apps


def _recent(rng: random.Random, versions: list[str]) -> str:
    """Mostly the last version listed (a record's newest fix: few findings), sometimes any
    (an image left behind)."""
    return versions[-1] if rng.random() < 0.85 else rng.choice(versions)


@dataclass
class Template:
    """One distinct inventory: its SBOM (with a placeholder digest), rows and findings."""

    sbom: bytes
    packages: list[fleet.PackageRow]
    findings: list[fleet.FindingRow]


@dataclass
class Fleet:
    bases: list[tuple[Distro, list[Package]]]
    apps: list[list[Package]]
    templates: dict[tuple[int, int], Template] = field(default_factory=dict)

    def shape(self, i: int) -> tuple[int, int]:
        return i % len(self.bases), (i * 2_654_435_761 >> 7) % len(self.apps)

    def template(self, key: tuple[int, int], judge: convert.Judge) -> Template:
        found = self.templates.get(key)
        if found is None:
            distro, base = self.bases[key[0]]
            inv = Inventory(source=ImageSource(kind="registry", name="bench",
                                               manifest_digest=PLACEHOLDER),
                            distro=distro, packages=tuple(base + self.apps[key[1]]))
            findings = judge(inv, convert.Marks(), today=TODAY)
            found = self.templates[key] = Template(
                sbom=sbom.encode(inv, "json"), packages=convert.package_rows(inv),
                findings=convert.finding_rows(findings, inv))
        return found


def image(i: int) -> tuple[str, str, tuple[str, ...]]:
    digest = "sha256:" + hashlib.sha256(f"bench-image-{i}".encode()).hexdigest()
    return digest, f"registry.bench/team-{i // 2000}/service-{i // 40}", (f"v{i}",)


def loaded(fl: Fleet, judge: convert.Judge, indexes: Iterable[int]) -> Iterator[Loaded]:
    for i in indexes:
        t = fl.template(fl.shape(i), judge)
        digest, repository, tags = image(i)
        data = zlib.compress(t.sbom.replace(PLACEHOLDER.encode(), digest.encode()), 1)
        yield Loaded(image=fleet.ImageRecord(digest=digest, repository=repository, tags=tags,
                                             sbom=data, sbom_encoding=convert.SBOM_ENCODING),
                     packages=t.packages, findings=t.findings)


def load(store: fleet.Store, fl: Fleet, judge: convert.Judge, n: int, build: str) -> int:
    """``n`` images: the first image of each distinct package set (its prototype) through
    ``Store.bulk_load`` (its template matched once); every other image cloned from its
    prototype's rows in the database (INSERT ... SELECT per table, ``CLONE`` images a
    transaction), as ``bulk_load`` would have written them but without the per-image
    Python. A clone's SBOM bytes are its prototype's (the manifest digest inside them is
    the prototype's: nothing matches on it)."""
    protos: dict[tuple[int, int], int] = {}
    for i in range(n):
        protos.setdefault(fl.shape(i), i)
    first = sorted(protos.values())
    done = store.bulk_load(loaded(fl, judge, first), build=build)
    taken = set(first)
    rest = [i for i in range(n) if i not in taken]
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(rest), CLONE):
        rows = []
        for i in rest[start:start + CLONE]:
            digest, repository, tags = image(i)
            rows.append((digest, image(protos[fl.shape(i)])[0], repository, tags[0]))
        with store.write() as conn:
            clone(conn, rows, now)
        done += len(rows)
    return done


CLONE = 10_000  # images cloned a transaction
_CLONED = {  # table: (columns copied from the prototype's rows, the column naming the image)
    "images": ("repository", "status", "error", "media_type", "created", "labels", "base",
               "policy", "signatures", "first_seen", "first_scanned", "last_scanned",
               "matched_build"),
    "sboms": ("encoding", "data"),
    "packages": ("purl", "purl_base", "type", "ecosystem", "name", "name_key", "version",
                 "source_name", "source_key", "source_version", "licence", "layer", "visible",
                 "entry_hash"),
    "findings": ("advisory_id", "package_purl", "aliases", "severity", "cvss", "kev",
                 "fixed_versions", "status", "suppressed", "suppressed_reason", "data",
                 "state", "first_seen", "fixed_at", "updated_at"),
    "image_summary": ("malicious", "critical", "high", "medium", "low", "negligible",
                      "unknown", "kev", "fixable", "policy_failed", "base_stale", "base_eol",
                      "risk_rank"),
}


def clone(conn: sa.Connection, rows: list[tuple[str, str, str, str]], now: dt.datetime) -> None:
    """Images (digest, prototype digest, repository, tag) as copies of their prototypes'
    rows, in the caller's transaction: one INSERT ... SELECT per table."""
    from hullcheck.fleet import scans
    from hullcheck.fleet import schema as t

    pg = conn.dialect.name == "postgresql"
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_map")
    conn.exec_driver_sql("CREATE TEMP TABLE bench_map (digest TEXT PRIMARY KEY, proto TEXT, "
                         "repository TEXT, tag TEXT)")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if pg:
            with cursor.copy("COPY bench_map (digest, proto, repository, tag) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        else:
            cursor.executemany("INSERT INTO bench_map VALUES (?, ?, ?, ?)", rows)
    finally:
        cursor.close()
    if pg:
        conn.exec_driver_sql("ANALYZE bench_map")
    for table, columns in _CLONED.items():
        if table == "findings":
            _clone_findings(conn, pg)
            continue
        key = "digest" if table == "images" else "image_digest"
        names = ", ".join(columns)
        picked = ", ".join(("m.repository" if c == "repository" else f"x.{c}") for c in columns)
        order = " ORDER BY m.digest, x.id" if table == "packages" else ""
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({key}, {names}) SELECT m.digest, {picked} "
            f"FROM bench_map m JOIN {table} x ON x.{key} = m.proto{order}")
    conn.execute(sa.text(
        "INSERT INTO tags (repository, tag, image_digest, first_seen, last_seen, current) "
        "SELECT repository, tag, digest, :now, :now, :yes FROM bench_map").bindparams(
        sa.bindparam("now", type_=t.Time()), sa.bindparam("yes", type_=sa.Boolean())),
        {"now": now, "yes": True})
    counts: dict[str, list[int]] = {}
    for severity, suppressed, n in conn.execute(sa.text(
            "SELECT f.severity, f.suppressed, count(*) FROM bench_map m JOIN findings f "
            "ON f.image_digest = m.proto GROUP BY f.severity, f.suppressed")):
        c = counts.setdefault(severity, [0, 0])
        c[0] += 0 if suppressed else n
        c[1] += n
    if counts:
        scans.bump_daily(conn, [{"day_": now.date(), "severity_": s, "opened": o, "new_": w,
                                 "fixed_": 0} for s, (o, w) in sorted(counts.items())])
    conn.exec_driver_sql("DROP TABLE bench_map")


def _clone_findings(conn: sa.Connection, pg: bool) -> None:
    """The prototypes' findings, names and history for each clone: new ids taken first
    (bench_ids: prototype finding id -> clone's), so names and history follow by id."""
    if pg:
        new_id = "nextval(pg_get_serial_sequence('findings', 'id'))"
    else:
        top = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM findings")).scalar_one()
        new_id = f"{int(top)} + ROW_NUMBER() OVER (ORDER BY m.digest, f.id)"
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_ids")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE bench_ids AS SELECT f.id AS old_id, {new_id} AS new_id, "
        "m.digest AS digest FROM bench_map m JOIN findings f ON f.image_digest = m.proto")
    if pg:
        conn.exec_driver_sql("ANALYZE bench_ids")
    columns = ", ".join(_CLONED["findings"])
    picked = ", ".join(f"x.{c}" for c in _CLONED["findings"])
    conn.exec_driver_sql(
        f"INSERT INTO findings (id, image_digest, {columns}) SELECT b.new_id, b.digest, "
        f"{picked} FROM bench_ids b JOIN findings x ON x.id = b.old_id ORDER BY b.new_id")
    for table, names in (("finding_names", "name"),
                         ("finding_history", "at, change, reason, details")):
        picked = ", ".join(f"n.{c.strip()}" for c in names.split(","))
        conn.exec_driver_sql(
            f"INSERT INTO {table} (finding_id, {names}) SELECT b.new_id, {picked} "
            f"FROM bench_ids b JOIN {table} n ON n.finding_id = b.old_id")
    conn.exec_driver_sql("DROP TABLE bench_ids")


# -- backends --------------------------------------------------------------------------------


class Backend:
    """Where stores live: a SQLite file in a data dir, or PostgreSQL databases."""

    def __init__(self, work: Path, url: str | None, server: Any = None) -> None:
        self.work, self.url, self.server = work, url, server
        self.postgresql = url is not None

    def loaded_url(self) -> str:
        return self.url if self.url is not None else fleet.data_dir_url(self.work / "loaded")

    def clone(self, name: str, db: Path) -> tuple[Path, str | None]:
        """A data dir (with advisory database ``db``) and a copy of the loaded store."""
        data = self.work / name
        shutil.rmtree(data, ignore_errors=True)  # a kept dir's run that was interrupted
        (data / "advisories").mkdir(parents=True)
        for f in db.parent.iterdir():
            os.link(f, data / "advisories" / f.name)
        if not self.postgresql:
            src = self.work / "loaded" / fleet.db.DATABASE_FILE
            with sqlite3.connect(src) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(src, data / fleet.db.DATABASE_FILE)
            return data, None
        template = sa.make_url(self.loaded_url()).database
        clone = f"bench_{name.replace('-', '_')}"
        self._admin(f"DROP DATABASE IF EXISTS {clone} WITH (FORCE)")
        self._admin(f"CREATE DATABASE {clone} TEMPLATE {template} STRATEGY FILE_COPY")
        return data, str(sa.make_url(self.loaded_url()).set(database=clone))

    def drop(self, url: str | None) -> None:
        if url is not None:
            self._admin(f"DROP DATABASE IF EXISTS {sa.make_url(url).database} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        url = sa.make_url(self.loaded_url()).set(drivername="postgresql+psycopg",
                                                 database="postgres")
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT",
                                  poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()


def sizes(store: fleet.Store, backend: Backend, images: int) -> dict[str, float]:
    with store.read() as conn:
        packages = conn.execute(sa.text("SELECT count(*) FROM packages")).scalar_one()
        findings = conn.execute(sa.text("SELECT count(*) FROM findings")).scalar_one()
        if backend.postgresql:
            total = conn.execute(sa.text("SELECT pg_database_size(current_database())")
                                 ).scalar_one()
            pkg_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('packages')")
                                     ).scalar_one()
            sbom_bytes = conn.execute(sa.text("SELECT pg_total_relation_size('sboms')")
                                      ).scalar_one()
            finding_bytes = sum(conn.execute(sa.text(
                f"SELECT pg_total_relation_size('{name}')")).scalar_one()
                for name in ("findings", "finding_names", "finding_history"))
        else:
            page = conn.execute(sa.text("PRAGMA page_size")).scalar_one()
            total = conn.execute(sa.text("PRAGMA page_count")).scalar_one() * page
            pkg_bytes = sbom_bytes = finding_bytes = 0
    out = {"package_rows": packages, "finding_rows": findings,
           "database_bytes": total, "bytes_per_image": total / max(images, 1)}
    if pkg_bytes:
        out |= {"bytes_per_package_row": pkg_bytes / max(packages, 1),
                "sbom_bytes_per_image": sbom_bytes / max(images, 1),
                "bytes_per_finding": finding_bytes / max(findings, 1)}
    return out


# -- re-matching ------------------------------------------------------------------------------


def start_workers(n: int, data: Path, url: str | None, work: Path) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "hullcheck", "worker", "--data-dir", str(data),
            "--threads", "1"]
    if url is not None:
        argv += ["--database-url", url]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    procs = []
    for k in range(n):
        log_file = (work / f"worker-{data.name}-{k}.log").open("wb")
        procs.append(subprocess.Popen(argv, env=env, stdout=log_file, stderr=log_file))
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def outstanding(ctx: Context) -> tuple[int, int]:
    """(re-match jobs queued or running, failed ones)."""
    with ctx.store.read() as conn:
        if ctx.postgresql:
            rows = conn.execute(sa.text(
                "SELECT status, count(*) FROM procrastinate_jobs WHERE task_name = 'rematch' "
                "GROUP BY status")).all()
            busy = ("todo", "doing")
        else:
            rows = conn.execute(sa.text(
                "SELECT status, count(*) FROM jobs WHERE kind = 'rematch' GROUP BY status")
            ).all()
            busy = ("queued", "running")
    counts = {s: int(n) for s, n in rows}
    failed = counts.get("failed", 0)
    # A job retried after a failure is "todo"/"queued" again: only finished ones count here.
    return sum(counts.get(s, 0) for s in busy), failed


def finding_set(store: fleet.Store, digests: list[str] | None = None) -> tuple[str, int]:
    """A digest of every finding (key, state and what it says) of ``digests`` (None: all
    images), in key order; the count."""
    h = hashlib.sha256()
    n = 0
    where = "" if digests is None else "WHERE image_digest IN (SELECT digest FROM bench_only) "
    with store.read() as conn:
        if digests is not None:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_only")
            conn.exec_driver_sql("CREATE TEMP TABLE bench_only (digest TEXT PRIMARY KEY)")
            conn.execute(sa.text("INSERT INTO bench_only VALUES (:d)"),
                         [{"d": d} for d in digests])
        rows = conn.execute(sa.text(
            "SELECT image_digest, advisory_id, package_purl, state, severity, cvss, kev, "
            "fixed_versions, status, suppressed, suppressed_reason, aliases, data "
            f"FROM findings {where}ORDER BY image_digest, advisory_id, package_purl"
        ).execution_options(yield_per=20_000))
        for r in rows:
            values = [json.loads(v) if isinstance(v, str) and k in (7, 11, 12) else v
                      for k, v in enumerate(r)]
            values[6], values[9] = bool(values[6]), bool(values[9])
            h.update(json.dumps(values, sort_keys=True).encode())
            n += 1
        if digests is not None:
            conn.exec_driver_sql("DROP TABLE bench_only")
    return h.hexdigest(), n


@dataclass
class Run:
    kind: str
    workers: int
    seconds: float
    plan_seconds: float
    images: int
    findings: int
    digest: str  # of the sample's findings (all images' when there is no sample)
    load: tuple[float, float]  # load average (1 min) at the start and at the end


def plan_sample(ctx: Context, old: str, new: str, sample: list[str]) -> int:
    """A full re-match of ``sample`` only (what ``advisories.plan`` queues for a full scope,
    for those images); the others are left on ``old``."""
    from hullcheck.fleet import scans
    from hullcheck.monitor import queue

    with ctx.store.write() as conn:
        scans.advance_build(conn, old, new, awaiting=sample,
                            marker=advisories.AWAITING + new)
        scans.note_build(conn, new, ctx.clock())
        for start in range(0, len(sample), advisories.BATCH):
            batch = [[d, None] for d in sample[start:start + advisories.BATCH]]
            queue.enqueue(ctx, "rematch", {"build": new, "images": batch}, conn=conn)
    return len(sample)


def rematch(backend: Backend, kind: str, workers: int, *, db: Path, old: str, new: str,
            scope: Scope, sample: list[str] | None = None) -> Run:
    data, url = backend.clone(f"{kind}-{workers}", db)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ctx = Context.open(data_dir=data, database_url=url, config=Config())
        try:
            procs = start_workers(workers, data, url, backend.work)
            load = os.getloadavg()[0]
            start = time.perf_counter()
            if sample is not None and scope.full:
                queued = plan_sample(ctx, old, new, sample)
            else:
                queued = advisories.plan(ctx, old, new, scope)
            planned = time.perf_counter() - start
            while True:
                busy, failed = outstanding(ctx)
                if failed:
                    raise SystemExit(f"{failed} re-match job(s) failed: see the worker logs "
                                     f"in {backend.work}")
                if not busy:
                    break
                if any(p.poll() is not None for p in procs):
                    raise SystemExit(f"a worker exited: see its log in {backend.work}")
                time.sleep(POLL)
            took = time.perf_counter() - start
            load_after = os.getloadavg()[0]
            stop_workers(procs)
            procs = []
            digest, count = finding_set(ctx.store, sample)
        finally:
            ctx.close()
    finally:
        stop_workers(procs)
    backend.drop(url)
    shutil.rmtree(data, ignore_errors=True)
    return Run(kind=kind, workers=workers, seconds=took, plan_seconds=planned, images=queued,
               findings=count, digest=digest, load=(load, load_after))


# -- the whole bench --------------------------------------------------------------------------


KEPT = "kept.json"  # in a --keep dir: what the load left (builds, figures, the sample)


def prepare(work: Path, *, data: Path, images: int, delta: int, backend: Backend, seed: int,
            apps: int, full_sample: int) -> dict[str, Any]:
    """The advisory states and the loaded store (``work/loaded``, or the backend's
    database); what the runs need, as the JSON a --keep dir keeps."""
    rng = random.Random(seed)
    adv = read_advisories(data)
    ids = sorted(adv.records)
    left_out = set(rng.sample(ids, min(delta, len(ids) // 2)))
    db_a = build_state(work / "state-a", adv, left_out)
    build_state(work / "state-b", adv, set())
    fl = Fleet(bases=make_bases(rng, adv), apps=make_apps(rng, adv, apps))
    (work / "loaded").mkdir()
    with fleet.open(backend.loaded_url()) as store, \
            convert.open_vulnstore(db_a) as vulns:
        judge = convert.Judge(vulns, (), None)
        start = time.perf_counter()
        count = load(store, fl, judge, images, file_build_id(db_a))
        load_seconds = time.perf_counter() - start
        with store.write() as conn:
            conn.exec_driver_sql("ANALYZE")  # what autovacuum does soon after a bulk load
        size = sizes(store, backend, count)
    ctx = Context.open(data_dir=work / "loaded", database_url=backend.url, config=Config())
    ctx.close()  # PostgreSQL: procrastinate's schema, in the template every clone copies
    # The full re-match (per image, the oracle) of a random sample when the fleet is larger:
    # its time is extrapolated; ``equal`` compares the sample's findings after each run.
    sample = None if full_sample >= count else sorted(
        image(i)[0] for i in rng.sample(range(count), full_sample))
    return {"images": count, "distinct": len(fl.templates), "delta_records": len(left_out),
            "records": len(ids), "alpine": adv.alpine is not None,
            "load_seconds": load_seconds, "size": size, "sample": sample,
            "load_average": os.getloadavg()[0]}


def run(work: Path, *, data: Path, images: int, delta: int, workers: tuple[int, ...],
        backend_url: Callable[[], str | None], server: Any = None, seed: int = 14,
        apps: int = APPS, full_sample: int = 2_000, kept: Path | None = None,
        load_only: bool = False, kinds: tuple[str, ...] = ("delta", "full")) -> dict[str, Any]:
    """The bench's core; the figures as a dict (the JSON the last line prints). With
    ``kept`` naming a file of a previous load (--reuse), that load is used as it is."""
    backend = Backend(work, backend_url(), server)
    if kept is not None and kept.is_file():
        loaded_with = json.loads(kept.read_text())
        start = time.perf_counter()
        with fleet.open(backend.loaded_url()):  # migrated once to this code's schema,
            pass  # not in each run's copy
        log(f"reusing the load of {loaded_with['images']:,} images in {work} (migrated in "
            f"{time.perf_counter() - start:.1f} s)")
    else:
        loaded_with = prepare(work, data=data, images=images, delta=delta, backend=backend,
                              seed=seed, apps=apps, full_sample=full_sample)
        if kept is not None:
            kept.write_text(json.dumps(loaded_with))
    db_a, db_b = (work / s / "advisories" / "vuln.db" for s in ("state-a", "state-b"))
    build_a, build_b = file_build_id(db_a), file_build_id(db_b)
    scope = diff(db_a, db_b).scope()
    left_out, count = loaded_with["delta_records"], loaded_with["images"]
    log(f"advisory states: {loaded_with['records'] - left_out:,} and "
        f"{loaded_with['records']:,} OSV records (+ Alpine secdb: {loaded_with['alpine']}); "
        f"delta of {left_out} records names {len(scope.names)} (ecosystem, name) keys")
    size, load_seconds = loaded_with["size"], loaded_with["load_seconds"]
    distinct = loaded_with["distinct"]
    log(f"loaded {count:,} images ({distinct:,} distinct package sets, "
        f"{size['package_rows']:,} package rows, {size['finding_rows']:,} findings) in "
        f"{load_seconds:.1f} s: {count / load_seconds:,.0f} images/s (load average "
        f"{loaded_with['load_average']:.1f} at the end); "
        f"{size['bytes_per_image'] / 1024:.1f} KiB per image")
    sample = loaded_with["sample"]
    runs: list[Run] = []
    if load_only:
        workers = ()
    for n in workers:
        for kind, chosen in (("delta", scope), ("full", Scope(full=True))):
            if kind not in kinds:
                continue
            r = rematch(backend, kind, n, db=db_b, old=build_a, new=build_b, scope=chosen,
                        sample=sample)
            runs.append(r)
            log(f"{kind} re-match, {n} worker(s): {r.seconds:.1f} s for {r.images:,} images "
                f"(planning {r.plan_seconds:.1f} s; load average {r.load[0]:.1f} -> "
                f"{r.load[1]:.1f}); {r.findings:,} findings after"
                + ("" if sample is None else " (of the sample)"))
    equal = len({r.digest for r in runs}) == 1
    figures: dict[str, Any] = {
        "backend": "postgresql" if backend.postgresql else "sqlite", "images": count,
        "distinct_package_sets": distinct, "delta_records": left_out,
        "delta_keys": len(scope.names), "load_seconds": round(load_seconds, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "load_images_per_second": round(count / load_seconds, 1),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in size.items()},
    }
    figures["full_sample"] = count if sample is None else len(sample)
    for r in runs:
        scale = 1.0 if sample is None or r.kind == "delta" else count / len(sample)
        figures[f"{r.kind}_seconds_{r.workers}w"] = round(r.seconds * scale, 2)
        figures[f"{r.kind}_images_{r.workers}w"] = r.images
        figures[f"{r.kind}_plan_seconds_{r.workers}w"] = round(r.plan_seconds, 2)
        figures[f"{r.kind}_load_{r.workers}w"] = [round(x, 1) for x in r.load]
        figures[f"{r.kind}_digest_{r.workers}w"] = r.digest[:16]  # compared across runs
        if scale != 1.0:
            figures[f"{r.kind}_seconds_{r.workers}w_measured"] = round(r.seconds, 2)
        if r.kind == "delta":
            figures[f"delta_ms_per_image_{r.workers}w"] = round(
                1000 * r.seconds / max(r.images, 1), 3)
    for n in workers if len(kinds) == 2 else ():
        figures[f"ratio_delta_full_{n}w"] = round(
            figures[f"delta_seconds_{n}w"] / max(figures[f"full_seconds_{n}w"], 1e-9), 3)
    figures["findings_after"] = runs[0].findings if runs else 0
    figures["equal"] = equal and bool(runs)
    return figures


def kept_server(root: Path) -> Any:
    """A PostgreSQL server whose data dir is ``root/data`` (kept between runs): created
    on first use (as the test fixture does, fsync off), started on a free port."""
    from tests.fixtures import postgres as pg

    data = root / "data"
    if not data.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, pg.SUPERUSER, pg.SUPERUSER)
        root.chmod(0o700)
        subprocess.run(pg._as_owner([str(pg._bin_dir() / "initdb"), "-D", str(data), "-U",
                                     pg.SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C",
                                     "--no-sync"]), check=True, capture_output=True)
    sockets = root / "sockets"
    subprocess.run(pg._as_owner(["mkdir", "-p", str(sockets)]), check=True)
    port = pg._free_port()
    options = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.run(pg._as_owner([str(pg._bin_dir() / "pg_ctl"), "-D", str(data), "-l",
                                 str(root / "server.log"), "-o", options, "-w", "start"]),
                   check=True, capture_output=True)
    server = pg.PostgresServer(bin_dir=pg._bin_dir(), root=root, port=port,
                               _names=iter(range(1, 1_000_000)))
    if not pg._ready(server):
        raise SystemExit(f"PostgreSQL in {root} did not start: {server.log()}")
    return server


def stop_kept(server: Any) -> None:
    """Stops a kept server and leaves its data dir (``PostgresServer.stop`` removes it)."""
    from tests.fixtures import postgres as pg

    subprocess.run(pg._as_owner([str(server.bin_dir / "pg_ctl"), "-D",
                                 str(server.root / "data"), "-m", "fast", "-w", "stop"]),
                   capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--images", type=int, help="default: 100,000 (PostgreSQL), 10,000 "
                        "(SQLite)")
    parser.add_argument("--delta", type=int, default=1000, help="advisory records in the delta")
    parser.add_argument("--workers", default="1,2", help="worker process counts to time")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", help="an empty PostgreSQL database to fill")
    parser.add_argument("--full-sample", type=int, default=2_000,
                        help="images the full re-match covers (more images: a random sample, "
                             "its time extrapolated)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="load into DIR (PostgreSQL: a server whose data dir is kept there) "
                             "and keep the load for --reuse")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="time the runs on the load a --keep DIR holds (each run on a fresh "
                             "copy of it, migrated to this code's schema when it opens)")
    parser.add_argument("--kinds", default="delta,full", help="re-matches to time")
    parser.add_argument("--load-only", action="store_true", help="with --keep: load, no runs")
    args = parser.parse_args()
    images = args.images or (100_000 if args.backend == "postgresql" else 10_000)
    workers = tuple(int(w) for w in args.workers.split(","))
    keep = args.keep or args.reuse
    if args.reuse is not None and not (args.reuse / KEPT).is_file():
        print(f"fleet bench: {args.reuse} holds no kept load ({KEPT} is missing)",
              file=sys.stderr)
        return 2
    if keep is not None and args.database_url:
        print("fleet bench: --keep/--reuse keep their own server: no --database-url",
              file=sys.stderr)
        return 2
    server: Any = None
    if args.backend == "postgresql" and keep is not None:
        server = kept_server(keep.resolve() / "pg")
    elif args.backend == "postgresql" and not args.database_url:
        from tests.fixtures.postgres import start_postgres

        server = start_postgres()
    try:
        def url() -> str | None:
            if args.backend == "sqlite":
                return None
            if args.database_url:
                return str(args.database_url)
            if keep is not None:
                if args.keep is not None:
                    server._admin("CREATE DATABASE loaded")
                return str(server.url("loaded"))
            return str(server.url(server.create_database()))

        with contextlib.ExitStack() as stack:
            if keep is not None:
                work = keep.resolve() / "work"
                work.mkdir(parents=True, exist_ok=True)
            else:
                work = Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="hullcheck-bench-fleet-")))
            try:
                figures = run(work, data=args.data, images=images, delta=args.delta,
                              workers=workers, backend_url=url, server=server,
                              full_sample=args.full_sample,
                              kept=None if keep is None else keep.resolve() / KEPT,
                              load_only=args.load_only,
                              kinds=tuple(args.kinds.split(",")))
            except Absent as exc:
                print(f"fleet bench: {exc}", file=sys.stderr)
                return 2
    finally:
        if server is not None:
            (stop_kept if keep is not None else type(server).stop)(server)
    print(json.dumps(figures))
    return 0 if figures["equal"] or args.load_only else 1


if __name__ == "__main__":
    sys.exit(main())
