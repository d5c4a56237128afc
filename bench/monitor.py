"""The monitoring service: push → scanned, advisory update → every alert delivered, and delta
vs full re-match, through ``monitor.Service`` with its in-process worker.

    .venv/bin/python bench/monitor.py [--images 1000] [--runs 3] [--backend sqlite|postgresql]
                                      [--skip-push]

1. Push → scanned: the corpus-like debootstrap image (bench/_images.py; bookworm minbase,
   one gzip layer) is copied to a local registry (Debian's docker-registry) with skopeo; the
   registry's push envelope goes to ``ingest_registry_event`` and the in-process worker
   scans it. Prints the median seconds from the envelope to the image stored as scanned
   (the scan job; the base/signature/policy assessment that follows is timed apart).
2. Advisory update → all alerts delivered: --images synthetic images (this machine's dpkg
   packages drawn from three bases at varied versions, plus PyPI packages from a pool of
   2,000 names) are pushed as native SBOMs under advisory state A. State B adds Debian
   tracker entries for three source packages every base ships and 30 PyPI records: the
   update, the delta re-match and one webhook POST per new finding to a real receiver on
   127.0.0.1. Prints the seconds until the receiver has every alert, and the counts.
3. Delta vs full: the re-match time of that update (rematch jobs only), then a full re-match
   of every image against the same database (which finds nothing more). Prints both and
   the ratio.

Prints figures only; no targets are asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.append(str(ROOT))
sys.path.append(str(ROOT / "bench"))

from _http import post_receiver  # noqa: E402

from hullcheck import sbom  # noqa: E402
from hullcheck.model import (  # noqa: E402
    Distro,
    ImageSource,
    Inventory,
    Location,
    Package,
    PackageType,
    SourcePackage,
)
from hullcheck.monitor import advisories  # noqa: E402
from hullcheck.monitor.config import parse_config  # noqa: E402
from hullcheck.monitor.service import Service  # noqa: E402
from hullcheck.vulndb.delta import Scope  # noqa: E402

DPKG_STATUS = Path("/var/lib/dpkg/status")
BOOKWORM = Distro(id="debian", version_id="12", codename="bookworm", name="Debian GNU/Linux")
PYPI_POOL = 2_000
SECRET = "bench-secret"
POLL = 0.05


def log(text: str) -> None:
    print(text, flush=True)


# -- a receiver ------------------------------------------------------------------------------


@contextmanager
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    got: list[bytes] = []
    lock = threading.Lock()

    def on_post(body: bytes) -> int:
        with lock:
            got.append(body)
        return 204

    with post_receiver(on_post) as base:
        yield base + "/hook", got


def wait_until(check: Any, what: str, limit: float = 3600.0) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > limit:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(POLL)
    return time.perf_counter() - start


# -- 1. push → scanned -------------------------------------------------------------------------


def push_to_scanned(work: Path, runs: int, database_url: str | None) -> None:
    from _images import debootstrap_archive
    from tests.fixtures.registry import start_registry

    archive = debootstrap_archive()
    sources = write_state(work / "adv-push", debian_packages()[:50], [], extra=False)
    with start_registry(work / "registry") as reg:
        text = f'registries: ["{reg.host}"]\nadvisories: {{sources: {sources}}}\n'
        times, assess = [], []
        for run in range(runs):
            tag = f"bench/debian:{run}"
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                            f"oci-archive:{archive}", f"docker://{reg.host}/{tag}"], check=True)
            digest = subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                 f"docker://{reg.host}/{tag}"], check=True, capture_output=True,
                text=True).stdout.strip()
            envelope = json.dumps({"events": [{"action": "push", "target": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                "repository": "bench/debian", "tag": str(run),
                "url": f"http://{reg.host}/v2/bench/debian/manifests/{digest}"}}]}).encode()
            data = work / f"push-{run}"
            with Service.open(data_dir=data, database_url=database_url,
                              config=parse_config(text, base=work)) as svc:
                svc.update_advisories(requested_by="bench")
                svc.run_pending()
                svc.start_worker(threads=2)
                start = time.perf_counter()
                svc.ingest_registry_event(envelope, requested_by="registry")
                wait_until(lambda d=digest, s=svc: (i := s.image(d)) is not None and
                           i.status == "scanned", "the scan")
                times.append(time.perf_counter() - start)
                wait_until(lambda d=digest, s=svc: (i := s.image(d)) is not None and
                           i.base is not None, "the assessment")
                assess.append(time.perf_counter() - start - times[-1])
                svc.stop_worker()
            database_url = fresh(database_url)
        size = archive.stat().st_size / 1e6
        log(f"push -> scanned ({archive.name}, {size:.0f} MB): median {statistics.median(times):.2f}"
            f" s over {runs} runs (each: {', '.join(f'{t:.2f}' for t in times)}); "
            f"assessment after it: median {statistics.median(assess):.2f} s")


# -- 2 and 3: an inventory, an update, alerts ------------------------------------------------------


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
    if len(out) < 100:
        out = [(f"lib{w}{i}", f"{i % 7}.{i % 13}-{i % 3 + 1}", f"{w}{i}")
               for i, w in enumerate(["ssl", "xml", "z", "ffi", "gcrypt", "curl"] * 30)]
    return sorted(set(out))


def tracker_entry(cve: str, fixed: str) -> dict[str, Any]:
    return {"description": f"{cve} (bench)", "releases": {"bookworm": {
        "status": "resolved", "repositories": {"bookworm": fixed}, "fixed_version": fixed,
        "urgency": "medium"}}}


def osv_record(rid: str, name: str, fixed: str) -> dict[str, Any]:
    return {"id": rid, "modified": "2026-01-01T00:00:00Z", "aliases": [f"CVE-2099-{rid[-5:]}"],
            "affected": [{"package": {"name": name, "ecosystem": "PyPI"},
                          "ranges": [{"type": "ECOSYSTEM",
                                      "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
            "database_specific": {"severity": "HIGH"}}


def write_state(root: Path, debs: list[tuple[str, str, str]], pypi: list[int], *,
                extra: bool) -> Path:
    """Advisory files: a tracker entry (fixed in a higher version) for every tenth Debian
    source, OSV records for PyPI pool names ``pypi``; ``extra`` adds the update's records."""
    if root.exists():
        shutil.rmtree(root)
    (root / "pypa").mkdir(parents=True)
    sources = sorted({s for _, _, s in debs})
    tracker = {s: {f"CVE-2098-{i:05d}": tracker_entry(f"CVE-2098-{i:05d}", "999:1")}
               for i, s in enumerate(sources) if i % 10 == 0}
    records = [osv_record(f"PYSEC-2098-{n:05d}", f"bench-pkg-{n}", "99.0") for n in pypi]
    if extra:
        for i, s in enumerate(sources[1:4]):
            tracker.setdefault(s, {})[f"CVE-2099-9{i:04d}"] = tracker_entry(
                f"CVE-2099-9{i:04d}", "999:2")
        records += [osv_record(f"PYSEC-2099-{n:05d}", f"bench-pkg-{n}", "99.0")
                    for n in range(1000, 1030)]
    for r in records:
        (root / "pypa" / f"{r['id']}.json").write_text(json.dumps(r))
    (root / "tracker.json").write_text(json.dumps(tracker))
    sources_file = root / "sources.yaml"
    sources_file.write_text(json.dumps([
        {"name": "osv-pypa", "kind": "osv", "url": str(root / "pypa")},
        {"name": "debian", "kind": "debian", "url": str(root / "tracker.json")}]))
    return sources_file


def inventory_doc(rng: random.Random, i: int, bases: list[list[tuple[str, str, str]]]) -> bytes:
    base = bases[i % len(bases)]
    pkgs = []
    for name, version, source in base:
        pkgs.append(Package(type=PackageType.DEB, name=name, version=version,
                            purl=f"pkg:deb/debian/{name}@{version}?distro=debian-12",
                            found_by="dpkg-db", locations=(Location(path="/var/lib/dpkg/status",
                                                                    layer=0),),
                            source=SourcePackage(name=source, version=version)))
    for n in rng.sample(range(PYPI_POOL), 20):
        version = f"{rng.randint(1, 5)}.{rng.randint(0, 9)}"
        pkgs.append(Package(type=PackageType.PYTHON, name=f"bench-pkg-{n}", version=version,
                            purl=f"pkg:pypi/bench-pkg-{n}@{version}", found_by="python-installed",
                            locations=(Location(path=f"/app/bench_pkg_{n}/METADATA", layer=1),)))
    digest = "sha256:" + f"{i:064x}"
    inv = Inventory(source=ImageSource(kind="registry", name=f"registry.bench/app{i % 50}:{i}",
                                       manifest_digest=digest), distro=BOOKWORM,
                    packages=tuple(pkgs))
    return sbom.encode(inv, "json")


def update_to_alerts(work: Path, images: int, database_url: str | None) -> None:
    rng = random.Random(12)
    debs = debian_packages()
    bases = [rng.sample(debs, min(80, len(debs))) for _ in range(3)]
    for b in bases:
        b.extend(debs[1:4])  # the three sources the update names: in every base
    shipped = sorted({d for b in bases for d in b})
    root = work / "adv"
    sources = write_state(root, shipped, list(range(0, PYPI_POOL, 40)), extra=False)
    with webhook() as (hook, got):
        text = f"""
advisories: {{sources: {sources}}}
channels: [{{name: ops, type: webhook, url: "{hook}", secret-env: BENCH_SECRET}}]
alerts: [{{name: new, when: [new-finding], channels: [ops]}}]
"""
        cfg = parse_config(text, base=work, environ={"BENCH_SECRET": SECRET})
        with Service.open(data_dir=work / "fleet", database_url=database_url, config=cfg) as svc:
            svc.update_advisories(requested_by="bench")
            svc.run_pending()
            start = time.perf_counter()
            for i in range(images):
                svc.ingest_push(inventory_doc(rng, i, bases), name=f"registry.bench/app{i % 50}:{i}",
                                requested_by="bench")
            stored = time.perf_counter() - start
            svc.start_worker(threads=2)
            wait_until(lambda: not svc.store.deliveries(_pending(), limit=1), "first alerts")
            before = len(got)
            log(f"inventory: {images} images stored in {stored:.1f} s "
                f"({images / stored:.0f}/s, matched on upload); {before} alerts of the first "
                f"scans delivered, {len(svc.dead_letters(limit=100_000))} dead letters")

            old_db = work / "old-vuln.db"
            shutil.copyfile(svc.ctx.db_path, old_db)
            old_build = svc.ctx.build_id()
            write_state(root, shipped, list(range(0, PYPI_POOL, 40)), extra=True)
            events_before = len(svc.store.events_since(0, limit=10_000_000))
            start = time.perf_counter()
            svc.update_advisories(requested_by="bench")
            wait_until(lambda: _rematched(svc), "the re-match")
            rematched = time.perf_counter() - start
            wait_until(lambda: not svc.store.deliveries(_pending(), limit=1), "the alerts")
            delivered = time.perf_counter() - start
            alerts = len(got) - before
            events = len(svc.store.events_since(0, limit=10_000_000)) - events_before
            svc.stop_worker()
            dead = len(svc.dead_letters(limit=100_000))
            log(f"advisory update -> all alerts delivered: {delivered:.1f} s for {images} images "
                f"({dead} dead letters in all; {events} events, {alerts} new-finding webhooks, "
                f"one POST each; update + delta re-match {rematched:.1f} s)")

            # Delta vs full, both from the old build to the new one over the same stored
            # findings (so both write nothing): the matching cost of each.
            from hullcheck.fleet import scans
            from hullcheck.vulndb.delta import diff

            build = svc.ctx.build_id()
            scope = diff(old_db, svc.ctx.db_path).scope()
            timings = {}
            for label, chosen in (("delta", scope), ("full", Scope(full=True))):
                with svc.store.write() as conn:
                    scans.advance_build(conn, build, old_build)
                start = time.perf_counter()
                queued = advisories.plan(svc.ctx, old_build, build, chosen)
                svc.run_pending(limit=10_000_000)
                timings[label] = (time.perf_counter() - start, queued)
            changed = len(svc.store.events_since(0, limit=10_000_000)) - events_before - events
            (dt_, dn), (ft, fn) = timings["delta"], timings["full"]
            log(f"delta vs full re-match of {images} images: delta {dt_:.2f} s ({dn} images, "
                f"{len(scope.names)} (ecosystem, name) keys), full {ft:.2f} s ({fn} images); "
                f"ratio {dt_ / ft:.2f}; changes found by either after the update: {changed}")


def _pending() -> Any:
    from hullcheck.fleet.model import DeliveryStatus

    return DeliveryStatus.PENDING


def _rematched(svc: Service) -> bool:
    """No job is queued or running (the update and its re-matches are done)."""
    import sqlalchemy as sa

    with svc.store.read() as conn:
        if svc.ctx.postgresql:
            n = conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN "
                                     "('todo', 'doing') AND task_name IN ('advisories', "
                                     "'rematch')")).scalar_one()
        else:
            n = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE status IN ('queued', "
                                     "'running') AND kind IN ('advisories', 'rematch')")
                             ).scalar_one()
    return int(n) == 0


class _Postgres:
    server: Any = None  # the throwaway PostgreSQL server of --backend postgresql


def fresh(database_url: str | None) -> str | None:
    if database_url is None or _Postgres.server is None:
        return database_url
    return str(_Postgres.server.url(_Postgres.server.create_database()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--skip-push", action="store_true", help="skip the push -> scanned part")
    args = parser.parse_args()
    url = None
    if args.backend == "postgresql":
        from tests.fixtures.postgres import start_postgres

        _Postgres.server = start_postgres()
        url = fresh("postgresql://")
    log(f"[{args.backend}]")
    try:
        with tempfile.TemporaryDirectory(prefix="hullcheck-bench-monitor-") as tmp:
            if not args.skip_push:
                push_to_scanned(Path(tmp), args.runs, url)
            update_to_alerts(Path(tmp), args.images, fresh(url))
    finally:
        if _Postgres.server is not None:
            _Postgres.server.stop()


if __name__ == "__main__":
    main()
