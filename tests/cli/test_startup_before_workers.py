"""Before the first layer is given to a worker process, the parent imports and builds only
what the reads need: the parent is alone on the machine until then (one core idle), and
the workers, forked then, inherit what it imported. ``sbom`` redacts the history after
(no secret rules compiled before); ``secrets`` imports the report room after. A job in a
worker imports no module (each worker starts with every one it needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hullcheck import report
from hullcheck.cli import secrets as cli_secrets
from hullcheck.secrets import SecretReport
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer
from tests.secrets import fakes

TOKEN = fakes.rand(fakes.ALNUM, 36, 13)  # after "ghp_": a GitHub token's shape, not a real one

# Runs the command with two workers whatever the layers' sizes; at the first job given to
# the pool prints the modules loaded then (and whether the redactor was built), and in each
# worker job the modules the job imported.
_CODE = """
import json, sys, concurrent.futures
from hullcheck.filetree import analysis
from hullcheck.pipeline import redaction
from hullcheck.cli.main import main
analysis.MIN_PARALLEL_BYTES = 0
seen = {}
submit = concurrent.futures.ProcessPoolExecutor.submit
def submitted(pool, fn, *args, **kw):
    if not seen:
        seen["modules"] = sorted(sys.modules)
        seen["redactor"] = redaction.redactor.cache_info().currsize
    return submit(pool, fn, *args, **kw)
concurrent.futures.ProcessPoolExecutor.submit = submitted
work = analysis._work_stored
def counted(*args):
    before = set(sys.modules)
    out = work(*args)
    new = sorted(set(sys.modules) - before)
    if new:
        raise RuntimeError(f"a job imported {new}")
    return out
counted.__qualname__ = counted.__name__ = "_work_stored"
counted.__module__ = analysis.__name__
analysis._work_stored = counted
code = main(sys.argv[1:])
print(json.dumps({"code": code, **seen}), file=sys.stderr)
"""


def _before_workers(args: list[str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CODE, *args], capture_output=True, text=True,
                          check=False, env={**os.environ, "HULLCHECK_LAYER_WORKERS": "2"})
    found: dict[str, object] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write(build(layer("dpkg/bookworm"), {"etc/os-release": "ID=debian\n",
                                                 "srv/env": f"TOKEN=ghp_{TOKEN}\n"},
                       {"srv/b": "b"}), tmp_path_factory.mktemp("img"))


def test_sbom_compiles_no_secret_rule_before_the_first_worker_starts(
        image: str, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    seen = _before_workers(["sbom", image, "-o", "json", "--file", str(out), "-q",
                            "--no-cache"])
    assert seen["code"] == 0 and out.stat().st_size > 0
    modules = set(seen["modules"])  # type: ignore[call-overload]
    assert "hullcheck.filetree.analysis" in modules and "hullcheck.catalog.dpkg" in modules
    assert seen["redactor"] == 0
    assert {m for m in modules if m.startswith("hullcheck.secrets")} == set()


def test_secrets_imports_the_report_room_after_the_first_worker_starts(
        image: str, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    seen = _before_workers(["secrets", image, "-o", "json", "--file", str(out), "-q",
                            "--no-cache"])
    assert seen["code"] == 0 and json.loads(out.read_text())["findings"]
    modules = set(seen["modules"])  # type: ignore[call-overload]
    assert "hullcheck.secrets.scanner" in modules
    assert {m for m in modules if m.startswith(("hullcheck.report", "hullcheck.misconfig"))
            } == set()


def test_the_secrets_formats_are_the_report_rooms() -> None:
    assert report.formats(SecretReport) == cli_secrets.FORMATS
