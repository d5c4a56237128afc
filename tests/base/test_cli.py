"""hullcheck base: output formats and exit codes (0 fine, 1 a --fail-* condition, 2 errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from tests.base.conftest import World
from tests.fixtures.base.images import distro_image
from tests.fixtures.images import write


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["base", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(out: str) -> dict[str, Any]:
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_add_then_list_the_catalog(world: World, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    cat = str(tmp_path / "catalog.json")
    code, _, err = run(capsys, "add", f"{world.base}@{world.old.digest}", world.tag, "--catalog", cat)
    assert code == 0, err
    assert f"added {world.tag}@{world.new.digest} (2 layers, Debian GNU/Linux 12 (bookworm))" in err
    code, out, _ = run(capsys, "catalog", "--catalog", cat, "-o", "json")
    assert code == 0
    bases = as_json(out)["bases"]
    assert {(b["tag"], b["digest"]) for b in bases} == {("", world.old.digest), ("12", world.new.digest)}
    assert all(b["distro"]["id"] == "debian" and len(b["diffIds"]) == 2 for b in bases)
    assert all(b["created"] for b in bases)
    code, out, _ = run(capsys, "catalog", "--catalog", cat, "-o", "table")
    assert out.splitlines()[0].split() == ["BASE", "DIGEST", "CREATED", "DISTRO", "LAYERS"]
    assert f"{world.tag} " in out


def test_max_age(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    args = (world.app, "--catalog", str(world.catalog), "--no-advice", "-o", "json")
    code, out, _ = run(capsys, *args, "--max-age", "30")
    doc = as_json(out)
    assert code == 1
    assert doc["failures"] == [f"base is 45 days behind {world.tag} (--max-age 30)"]
    assert doc["freshness"]["daysBehind"] == 45
    assert doc["base"]["identifiedBy"] == "layers" and doc["base"]["digest"] == world.old.digest
    code, out, _ = run(capsys, *args, "--max-age", "45")
    assert code == 0 and as_json(out)["failures"] == []


def test_fail_eol_on_an_end_of_life_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = write(distro_image("debian", "9", "stretch"), tmp_path)
    catalog = str(tmp_path / "empty.json")
    # Debian 9's support ended in 2022: true on any day this test runs.
    code, out, _ = run(capsys, image, "--catalog", catalog, "--fail-eol", "-o", "json")
    doc = as_json(out)
    assert code == 1
    assert doc["eol"]["state"] == "end-of-life"
    assert doc["eol"]["release"]["securitySupportEnd"] == "2020-07-18"
    assert doc["base"]["identifiedBy"] == "none"
    code, out, _ = run(capsys, image, "--catalog", catalog, "-o", "json")
    assert code == 0  # reported, but not a failure without --fail-eol


def test_fail_untrusted(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trust = tmp_path / "trust.yaml"
    trust.write_text("sources:\n  - name: registry.example.com/**\n")
    args = (world.app, "--catalog", str(world.catalog), "--no-advice", "-o", "json",
            "--trust", str(trust))
    code, out, _ = run(capsys, *args, "--fail-untrusted")
    doc = as_json(out)
    assert code == 1
    assert doc["trust"]["state"] == "untrusted"
    assert doc["failures"] == [f"base is untrusted: {world.base} is not an allowed source in {trust}"]
    trust.write_text(f"sources:\n  - name: '{world.host}/**'\n")
    code, out, _ = run(capsys, *args, "--fail-untrusted")
    assert code == 0 and as_json(out)["trust"]["state"] == "trusted"


def test_table_output(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, world.app, "--catalog", str(world.catalog), "--db", str(world.db),
                       "-o", "table")
    assert code == 0
    lines = {line[:10].strip(): line[11:] for line in out.splitlines() if line[:10].strip()}
    assert lines["base"].startswith(f"{world.tag}@{world.old.digest} (by its layers")
    assert lines["freshness"].endswith("45 days behind")
    assert lines["advice"].startswith(f"rebuild on {world.tag}@{world.new.digest}: fixes ")
    assert "PYSEC-2018-28" in out or "CVE-2018-18074" in out


@pytest.mark.parametrize(("argv", "message"), [
    (("x.example/a:1", "--fail-untrusted"), "--fail-untrusted needs --trust FILE"),
    (("add",), "name at least one base image reference"),
    (("update-eol",), "needs --eol-url URL"),
    (("a", "b"), "one image at a time"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_a_damaged_catalog_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = write(distro_image("alpine", "3.19.1"), tmp_path)
    bad = tmp_path / "catalog.json"
    bad.write_text("[]")
    code, _, err = run(capsys, image, "--catalog", str(bad))
    assert code == 2
    assert "not a hullcheck base catalog" in err


def test_an_unreachable_base_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hullcheck.base.identify import BASE_DIGEST, BASE_NAME
    from hullcheck.image.writer import ImageBuilder
    from tests.fixtures.base.images import os_release

    b = ImageBuilder(annotations={BASE_NAME: "127.0.0.1:1/gone/debian:12",
                                  BASE_DIGEST: "sha256:" + "0" * 64})
    b.add_layer({"etc/os-release": os_release("debian", "12", "bookworm")})
    image = write(b.build(), tmp_path)
    args = (image, "--catalog", str(tmp_path / "empty.json"), "-o", "json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    doc = as_json(out)
    assert doc["base"]["identifiedBy"] == "annotation" and doc["freshness"] is None
    assert any(n.startswith("freshness unknown: could not compare 127.0.0.1:1/gone/debian:12")
               for n in doc["notes"])
    # --max-age needs the answer: not being able to get it is an error, not a pass.
    code, _, err = run(capsys, *args, "--max-age", "30")
    assert code == 2
    assert "127.0.0.1:1" in err


def test_max_age_fails_closed_when_no_base_is_identified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write(distro_image("debian", "12", "bookworm"), tmp_path)
    catalog = str(tmp_path / "empty.json")
    code, out, _ = run(capsys, image, "--catalog", catalog, "--no-advice", "-o", "json",
                       "--max-age", "5")
    assert code == 1
    assert any("unknown (--max-age 5)" in f for f in as_json(out)["failures"])
    code, _, _ = run(capsys, image, "--catalog", catalog, "--no-advice", "-o", "json")
    assert code == 0  # without --max-age an unknown base is reported, not failed
