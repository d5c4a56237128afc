"""`hullcheck sbom` as a user runs it: formats, files, scopes, exit codes, streams."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.image.writer import whiteout

OS = {"etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'}


def test_json_output_is_native_and_names_the_image(
    make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    ref = make_image(OS, {"srv/x": "1"})
    assert main(["sbom", ref, "-o", "json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["distro"]["codename"] == "bookworm"
    assert len(doc["layers"]) == 2
    assert doc["layers"][1]["createdBy"] == "RUN step 1"
    assert doc["source"]["manifestDigest"].startswith("sha256:")
    assert err == ""  # not a terminal: no progress


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json", "json"])
def test_every_format_writes_a_parsable_file(
    fmt: str, make_image: Callable[..., str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = make_image(OS)
    dest = tmp_path / "out" / "sbom.json"
    dest.parent.mkdir()
    assert main(["sbom", ref, "-o", fmt, "--file", str(dest)]) == 0
    out, _ = capsys.readouterr()
    assert out == ""
    doc = json.loads(dest.read_text())
    assert doc  # a JSON document
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sbom.json"]  # no temp files left


def test_cyclonedx_xml(make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    assert main(["sbom", make_image(OS), "-o", "cyclonedx-xml"]) == 0
    root = ET.fromstring(capsys.readouterr()[0])
    assert root.tag.endswith("bom")


def test_table_output(make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", make_image(OS), "-o", "table"]) == 0
    out = capsys.readouterr()[0]
    assert "NAME" in out and "Debian GNU/Linux 12 (bookworm)" in out


def test_unknown_format_is_a_usage_error(
    make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sbom", make_image(OS), "-o", "yaml"])
    assert info.value.code == 2
    assert "unknown format 'yaml': choose from table, cyclonedx-json" in capsys.readouterr()[1]


def test_missing_image_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sbom", f"oci:{tmp_path / 'nope'}"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[0] == f"hullcheck: error: no such directory: {tmp_path / 'nope'}"


def test_failed_run_leaves_an_existing_output_file_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "sbom.json"
    dest.write_text("previous")
    assert main(["sbom", f"oci:{tmp_path / 'nope'}", "--file", str(dest)]) == 2
    assert dest.read_text() == "previous"


def test_console_script_runs(make_image: Callable[..., str]) -> None:
    ref = make_image(OS)
    exe = Path(sys.executable).with_name("hullcheck")
    proc = subprocess.run([str(exe), "sbom", ref, "-o", "json", "-q"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["distro"]["id"] == "debian"
    proc = subprocess.run([sys.executable, "-m", "hullcheck", "--version"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("hullcheck ")


def test_scope_all_layers_marks_hidden_files_layers(
    make_image: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    ref = make_image(OS, {"srv/a": "1"}, [whiteout("srv/a")])
    assert main(["sbom", ref, "-o", "json", "--scope", "all-layers"]) == 0
    doc = json.loads(capsys.readouterr()[0])
    assert doc["scope"] == "all-layers"
    assert len(doc["layers"]) == 3


def test_console_script_output_is_whole_through_a_pipe_and_exit_codes_survive(
    make_image: Callable[..., str], tmp_path: Path
) -> None:
    """The console script leaves without the interpreter's teardown: what it printed must
    still all arrive (a megabyte through a pipe), and its exit codes must be kept."""
    site = "usr/lib/python3/dist-packages"
    names = [f"big/m{i:05d}.py" for i in range(5000)]
    meta = "Metadata-Version: 2.1\nName: big\nVersion: 1.0\n"
    ref = make_image(OS, {f"{site}/big-1.0.dist-info/METADATA": meta,
                          f"{site}/big-1.0.dist-info/RECORD": "".join(f"{n},,\n" for n in names)})
    exe = str(Path(sys.executable).with_name("hullcheck"))
    proc = subprocess.run([exe, "sbom", ref, "-o", "spdx-json", "-q", "--scope", "all-layers"],
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) > 1 << 20
    assert len(json.loads(proc.stdout)["files"]) == 5000  # the RECORD lists only these
    missing = subprocess.run([exe, "sbom", f"oci:{tmp_path / 'nope'}"], capture_output=True,
                             text=True, check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("hullcheck: error:")
    # the reader stops early (| head -c 10): no traceback, no error exit
    head = subprocess.Popen([exe, "sbom", ref, "-o", "json", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert head.stdout is not None and head.stderr is not None
    assert len(head.stdout.read(10)) == 10
    head.stdout.close()
    assert head.wait(timeout=60) == 0
    assert b"Traceback" not in head.stderr.read()
