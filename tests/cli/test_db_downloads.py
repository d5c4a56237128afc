"""`hullcheck db import URL` / `db update` downloads: one size cap for both, --timeout for the
whole command however slowly a server sends, and no temporary file left behind, even by a
killed import. Real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.vulndb.paths import cache_dir
from hullcheck.vulndb.update import exclusive
from tests.registry._servers import Handler, Server, drip, reply, serve
from tests.vulndb.conftest import FIXTURES

# The module (``hullcheck.vulndb.update`` as an attribute path is the function it exports).
UPDATE = importlib.import_module("hullcheck.vulndb.update")
KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
PYPA = FIXTURES / "osv" / "pypa"


def db(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["db", *args])
    return code, capsys.readouterr()[1]


def leftovers(root: Path) -> list[str]:
    """Every file under ``root`` but the database, its lock and the kept downloads' names."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def without_length(h: Handler, body: bytes) -> None:
    """200 with no Content-Length: the body ends when the connection closes."""
    h.send_response(200)
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(body)
    h.close_connection = True


@pytest.fixture
def kev_server() -> Iterator[Server]:
    """/kev.json with its length, /unsized.json without, /drip.json a byte every second."""

    def answer(h: Handler) -> None:
        if h.path == "/kev.json":
            reply(h, 200, KEV.read_bytes())
        elif h.path == "/unsized.json":
            without_length(h, KEV.read_bytes())
        elif h.path == "/drip.json":
            drip(h, KEV.read_bytes(), stop=state.stop)
        else:
            reply(h, 404, b"no")

    with serve(answer) as state:
        yield state


@pytest.mark.parametrize("name", ["kev.json", "unsized.json"])
def test_import_of_a_url_has_the_update_size_cap(
    name: str, kev_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(UPDATE, "MAX_DOWNLOAD", 1000)
    path = tmp_path / "vuln.db"
    code, err = db(capsys, "import", "--db", str(path), f"{kev_server.url}/{name}")
    assert code == 2
    assert f"hullcheck: error: {kev_server.url}/{name} is " in err
    assert ("over the 1000-byte limit" in err) if name == "kev.json" else ("larger than 1000 bytes" in err)
    assert leftovers(tmp_path) == ["vuln.db.lock"]  # no database, no download, no temporary file
    # Under the cap, the same server is imported.
    monkeypatch.setattr(UPDATE, "MAX_DOWNLOAD", 1 << 20)
    code, err = db(capsys, "import", "--db", str(path), f"{kev_server.url}/{name}")
    assert code == 0, err
    assert [p for p in leftovers(tmp_path) if ".tmp-" in p] == []


def test_import_of_a_dripping_url_ends_at_the_timeout(
    kev_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "vuln.db"
    assert db(capsys, "import", "--db", str(path), str(PYPA))[0] == 0
    before = path.read_bytes()
    url = f"{kev_server.url}/drip.json"
    code, err = db(capsys, "import", "--db", str(path), url, "--timeout", "2s")
    assert code == 2
    assert err.startswith(f"hullcheck: error: db import {url}: gave up after 2s (--timeout) "
                          f"while downloading {url}")
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == ["vuln.db", "vuln.db.lock"]


def test_update_from_a_dripping_source_ends_at_the_timeout(
    kev_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    listing = tmp_path / "sources.json"
    listing.write_text(f'[{{"name": "kev", "kind": "kev", "url": "{kev_server.url}/drip.json"}}]')
    path = tmp_path / "db" / "vuln.db"
    code, err = db(capsys, "update", "--db", str(path), "--sources", str(listing), "--timeout", "2s")
    assert code == 2
    assert err.startswith(f"hullcheck: error: db update: gave up after 2s (--timeout) while "
                          f"downloading {kev_server.url}/drip.json")
    assert [p for p in leftovers(tmp_path / "db") if p != "vuln.db.lock"] == []


def test_a_killed_import_leaves_nothing_the_next_import_keeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "vuln.db"
    imports = cache_dir(path) / "imports"
    started = threading.Event()
    with serve(lambda h: drip(h, KEV.read_bytes(), stop=state.stop, every=0.2, sent=started)) as state:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hullcheck", "db", "import", "--db", str(path),
             f"{state.url}/kev.json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
        )
        try:
            # Wait (on what happens, not on a clock) until the download is under way.
            while not (started.is_set() and imports.is_dir() and any(imports.iterdir())):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                started.wait(0.05)
        finally:
            proc.kill()  # SIGKILL: no Python cleanup runs
            proc.wait()
            if proc.stderr:
                proc.stderr.close()
    left = [p.name for p in imports.iterdir()]
    assert len(left) == 1 and ".tmp-" in left[0]  # what a killed download leaves
    code, err = db(capsys, "import", "--db", str(path), str(KEV))
    assert code == 0, err
    assert f"removed 1 temporary file an interrupted import or update left: {left[0]}" in err
    assert list(imports.iterdir()) == []


def test_update_removes_what_a_killed_build_left(
    kev_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "vuln.db"
    listing = tmp_path / "sources.json"
    listing.write_text(f'[{{"name": "kev", "kind": "kev", "url": "{kev_server.url}/kev.json"}}]')
    assert db(capsys, "update", "--db", str(path), "--sources", str(listing))[0] == 0
    # As a build and a fetch killed half-way leave them (names as vulndb writes them).
    stale = [tmp_path / "vuln.db.tmp-0123456789ab", cache_dir(path) / "x-kev.json.tmp-ba9876543210"]
    for p in stale:
        p.write_bytes(b"half written")
    other = tmp_path / "other.db.tmp-0123456789ab"  # another database's: not ours to remove
    other.write_bytes(b"not ours")
    code, err = db(capsys, "update", "--db", str(path), "--sources", str(listing))
    assert code == 0, err
    assert "removed 2 temporary files" in err
    assert not any(p.exists() for p in stale) and other.exists()


def test_a_second_writer_waits_for_the_first_within_its_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "vuln.db"
    with exclusive(path):
        code, err = db(capsys, "import", "--db", str(path), str(KEV), "--timeout", "1s")
    assert code == 2
    assert f"gave up after 1s (--timeout) while waiting for another hullcheck to finish writing {path}" in err
    assert db(capsys, "import", "--db", str(path), str(KEV))[0] == 0  # the lock is free again
