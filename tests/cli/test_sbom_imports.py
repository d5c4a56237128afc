"""``hullcheck sbom -o json`` imports only what it uses: the other formats' codecs, the
service's, signing's and policy's libraries stay unloaded (their imports were ~1/6 of a
warm run's time, bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

HEAVY = {
    "cyclonedx", "hullcheck.sbom.cyclonedx", "hullcheck.sbom.spdx",  # other SBOM formats
    "jinja2", "sqlalchemy", "alembic", "starlette", "uvicorn", "procrastinate",  # the service
    "celpy", "hullcheck.policy",  # policy
    "cryptography", "nacl", "sigstore", "httpx",  # signatures, registries
    "hullcheck.report", "hullcheck.vulndb", "hullcheck.match",  # scanning
}


def _modules_after(args: list[str]) -> set[str]:
    code = ("import sys\n"
            "from hullcheck.cli.main import main\n"
            f"assert main({args!r}) == 0\n"
            "print(' '.join(sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return set(done.stderr.split())


def test_sbom_as_json_leaves_the_heavy_libraries_unloaded(tmp_path: Path) -> None:
    ref = write(build(layer("dpkg/bookworm"), {"etc/os-release": "ID=debian\n"}),
                tmp_path / "img")
    out = tmp_path / "sbom.json"
    loaded = _modules_after(["sbom", ref, "-o", "json", "--file", str(out), "-q",
                             "--cache-dir", str(tmp_path / "cache")])
    assert out.read_text().startswith("{")
    assert "hullcheck.catalog.dpkg" in loaded and "hullcheck.sbom.native" in loaded
    assert {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY} == set()


def test_sbom_as_cyclonedx_loads_its_codec_only(tmp_path: Path) -> None:
    ref = write(build({"etc/os-release": "ID=debian\n"}), tmp_path / "img")
    loaded = _modules_after(["sbom", ref, "-o", "cyclonedx-json", "--file",
                             str(tmp_path / "c.json"), "-q", "--no-cache"])
    assert "hullcheck.sbom.cyclonedx" in loaded and "hullcheck.sbom.spdx" not in loaded


def test_sbom_as_cyclonedx_does_not_import_cyclonedx_python_lib(tmp_path: Path) -> None:
    """The CycloneDX encoders write the library's bytes without it (~0.1 s of imports and a
    second SPDX licence table); the library is only the tests' oracle."""
    ref = write(build(layer("dpkg/bookworm"), {"etc/os-release": "ID=debian\n"}),
                tmp_path / "img")
    for fmt in ("cyclonedx-json", "cyclonedx-xml"):
        out = tmp_path / f"{fmt}.out"
        loaded = _modules_after(["sbom", ref, "-o", fmt, "--file", str(out), "-q",
                                 "--cache-dir", str(tmp_path / "cache")])
        assert "hullcheck.sbom.cyclonedx" in loaded and out.stat().st_size > 0
        assert {m for m in loaded if m.split(".")[0] == "cyclonedx"} == set(), fmt


def test_the_command_is_imported_then_its_objects_frozen_before_it_runs() -> None:
    """``entry`` imports the command's module, then freezes what the imports made: a
    collection while the command runs no longer walks the modules' tens of thousands of
    objects (bench/README.md)."""
    code = ("import gc, sys\n"
            "from hullcheck.cli import main as m\n"
            "def run(argv=None):\n"
            "    print(gc.get_freeze_count(), 'hullcheck.cli.sbom' in sys.modules,\n"
            "          'hullcheck.catalog.dpkg' in sys.modules)\n"
            "    return 0\n"
            "m.main = run\n"
            "sys.argv = ['hullcheck', 'sbom', 'oci:nowhere']\n"
            "m.entry()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    frozen, command, cataloger = done.stdout.split()
    assert int(frozen) > 10_000
    assert command == cataloger == "True"


def test_sbom_leaves_the_pipeline_modules_of_other_commands_unloaded(tmp_path: Path) -> None:
    ref = write(build({"etc/os-release": "ID=debian\n"}), tmp_path / "img")
    loaded = _modules_after(["sbom", ref, "-o", "json", "--file", str(tmp_path / "s.json"),
                             "-q", "--no-cache"])
    assert "hullcheck.pipeline.inventory" in loaded
    later = {f"hullcheck.pipeline.{m}" for m in
             ("attest", "base", "db", "policy", "secrets", "sign")}
    assert later & loaded == set()


def test_every_pipeline_name_is_there_when_asked_for() -> None:
    """Names of the modules imported on first use resolve (and stay bound); ``scan`` and
    ``inventory`` are the functions, not their modules, whatever was imported before."""
    code = ("import hullcheck.pipeline.attest, hullcheck.pipeline.policy\n"
            "import hullcheck.pipeline as p\n"
            "import inspect\n"
            "for name in p.__all__:\n"
            "    value = getattr(p, name)\n"
            "    assert not inspect.ismodule(value), name\n"
            "    assert vars(p)[name] is value, name\n"
            "assert inspect.isfunction(p.scan) and inspect.isfunction(p.inventory)\n"
            "from hullcheck.pipeline import verify_image, secrets_scan, update_database\n"
            "try:\n"
            "    p.no_such_name\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "no attribute 'no_such_name'" in done.stdout
