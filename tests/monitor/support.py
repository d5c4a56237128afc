"""Helpers for the monitor's tests: real images pushed to the real registry fixture, advisory
sources made of real OSV records (tests/fixtures/advisories), configs, and running jobs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hullcheck.image.writer import BuiltImage, ImageBuilder, push
from hullcheck.monitor.config import Config, parse_config
from hullcheck.monitor.service import Service
from hullcheck.registry import RegistryClient, parse_reference

ADVISORIES = Path(__file__).resolve().parent.parent / "fixtures" / "advisories"
SITE = "usr/lib/python3/dist-packages"
HOOK_SECRET = "monitor-test-hook-secret"


def osv_record(record_id: str) -> dict[str, Any]:
    for folder in (ADVISORIES / "delta" / "pypa", ADVISORIES / "osv" / "pypa"):
        path = folder / f"{record_id}.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
    raise AssertionError(record_id)


def write_sources(root: Path, records: Iterable[dict[str, Any]]) -> Path:
    """A ``db update --sources`` file naming one local OSV directory holding ``records``
    (replaced on each call, so a second call is the next update)."""
    folder = root / "osv-pypa"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for r in records:
        (folder / f"{r['id']}.json").write_text(json.dumps(r))
    sources = root / "sources.yaml"
    sources.write_text(f"- {{name: osv-pypa, kind: osv, url: {folder}}}\n")
    return sources


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n"


def python_image(packages: Mapping[str, str], *, labels: Mapping[str, str] | None = None,
                 extra: Mapping[str, str] | None = None) -> BuiltImage:
    """An image with these Python distributions installed (real dist-info METADATA)."""
    files = {f"{SITE}/{n}-{v}.dist-info/METADATA": metadata(n, v) for n, v in packages.items()}
    b = ImageBuilder(labels=dict(labels or {}))
    b.add_layer({"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n"}, created_by="base")
    b.add_layer({**files, **(extra or {})}, created_by="pip install")
    return b.build()


def push_image(host: str, name: str, image: BuiltImage) -> str:
    """Push ``image`` as ``host/name`` (REPO:TAG); its manifest digest."""
    ref = parse_reference(f"{host}/{name}")
    with RegistryClient() as client:
        return push(client, ref, image)


def config(text: str, *, base: Path, environ: Mapping[str, str] | None = None) -> Config:
    return parse_config(text, name="monitor.yaml", base=base,
                        environ={"HOOK_SECRET": HOOK_SECRET, **(environ or {})})


def drain(svc: Service, rounds: int = 20) -> int:
    """Run due jobs until a round runs none (jobs queue jobs); the number run."""
    total = 0
    for _ in range(rounds):
        n = svc.run_pending()
        total += n
        if n == 0:
            return total
    raise AssertionError("jobs keep queuing jobs")
