"""End of life: the bundled table, its generator, lookups by VERSION_ID and codename, and
updates fetched from a 127.0.0.1 server. Every check passes ``today`` explicitly."""

from __future__ import annotations

import http.server
import importlib.util
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from hullcheck.base import eol
from hullcheck.base.model import EolState
from hullcheck.errors import DatabaseError, FormatError
from hullcheck.model import Distro

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = ROOT / "tests" / "fixtures" / "base" / "eol"


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_eol", ROOT / "scripts" / "gen_eol.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def table() -> eol.EolTable:
    return eol.parse_table(eol.bundled_bytes(), "bundled")


@pytest.mark.parametrize(("distro", "today", "state", "cycle"), [
    (Distro(id="debian", version_id="9", codename="stretch"), date(2024, 6, 1), EolState.END_OF_LIFE, "9"),
    (Distro(id="debian", version_id="12"), date(2024, 6, 1), EolState.SUPPORTED, "12"),
    # Debian 12's LTS years: past security support (2026-07-11), before LTS ends (2028-06-30).
    (Distro(id="debian", version_id="12"), date(2027, 1, 1), EolState.EXTENDED, "12"),
    (Distro(id="alpine", version_id="3.11.6"), date(2024, 6, 1), EolState.END_OF_LIFE, "3.11"),
    (Distro(id="alpine", version_id="3.19.1"), date(2024, 6, 1), EolState.SUPPORTED, "3.19"),
    (Distro(id="ubuntu", version_id="20.04"), date(2025, 7, 1), EolState.EXTENDED, "20.04"),
    (Distro(id="rhel", version_id="9.4"), date(2024, 6, 1), EolState.SUPPORTED, "9"),
    (Distro(id="amzn", version_id="2"), date(2024, 6, 1), EolState.SUPPORTED, "2"),
    (Distro(id="fedora", version_id="38"), date(2024, 6, 1), EolState.END_OF_LIFE, "38"),
    (Distro(id="debian", codename="buster"), date(2024, 6, 1), EolState.EXTENDED, "10"),
])
def test_release_states(table: eol.EolTable, distro: Distro, today: date, state: EolState,
                        cycle: str) -> None:
    status = eol.check(distro, table, today=today)
    assert status.state is state, status.reason
    assert status.release is not None and status.release.cycle == cycle


def test_dates_in_the_reason(table: eol.EolTable) -> None:
    old = eol.check(Distro(id="debian", version_id="9"), table, today=date(2024, 6, 1))
    assert old.reason == ("Debian 9 is end of life: security support ended 2020-07-18, "
                          "extended support ended 2022-07-01")
    assert old.past_security_support
    new = eol.check(Distro(id="debian", version_id="12"), table, today=date(2024, 6, 1))
    assert new.reason == ("Debian 12: security support until 2026-07-11 "
                          "(extended support until 2028-06-30)")
    assert not new.past_security_support


def test_a_cycle_is_a_dotted_prefix_not_a_string_prefix(table: eol.EolTable) -> None:
    # Alpine 3.1 must not claim 3.11.x.
    rel = eol.find_release(Distro(id="alpine", version_id="3.11.13"), table)
    assert rel is not None and rel.cycle == "3.11"


def test_unknown_distro_and_release(table: eol.EolTable) -> None:
    today = date(2024, 6, 1)
    assert eol.check(None, table, today=today).state is EolState.UNKNOWN
    arch = eol.check(Distro(id="arch"), table, today=today)
    assert arch.state is EolState.UNKNOWN and "no end-of-life data" in arch.reason
    future = eol.check(Distro(id="debian", version_id="99"), table, today=today)
    assert future.state is EolState.UNKNOWN and "not in the end-of-life table" in future.reason


def test_centos_stream_is_told_from_centos_linux(table: eol.EolTable) -> None:
    stream = Distro(id="centos", version_id="9", name="CentOS Stream")
    assert eol.product_key(stream) == "centos-stream"
    status = eol.check(stream, table, today=date(2024, 6, 1))
    assert status.release is not None and status.release.title == "CentOS Stream"


def test_generator_reproduces_the_bundled_records() -> None:
    gen = _gen_module()
    subset = {k: gen.PRODUCTS[k] for k in ("debian", "alpine", "ubuntu", "rhel")}
    doc = gen.generate(PRODUCTS, "test", subset)
    bundled = json.loads(eol.bundled_bytes())
    for os_id, entry in doc["distros"].items():
        kept = {r["cycle"]: r for r in bundled["distros"][os_id]["releases"]}
        for rel in entry["releases"]:
            # The trimmed copies carry the same upstream records as the full snapshot.
            assert kept[rel["cycle"]] == rel
    table = eol.parse_table(json.dumps(doc).encode(), "generated")
    assert [r.cycle for r in table.releases["alpine"]] == ["3.19", "3.11"]


def test_generator_fails_on_a_missing_product(tmp_path: Path) -> None:
    gen = _gen_module()
    with pytest.raises(FileNotFoundError):
        gen.generate(tmp_path, "test", {"debian": ("debian", "Debian")})


# -- updates ------------------------------------------------------------------------------


class _Server:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status = body, status
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(server.status)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/eol.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(b"")
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _newer_table() -> bytes:
    doc = json.loads(eol.bundled_bytes())
    # Pretend Debian extended Debian 9's LTS: the update must be what is read afterwards.
    for rel in doc["distros"]["debian"]["releases"]:
        if rel["cycle"] == "9":
            rel["extendedSupportEnd"] = "2099-01-01"
    doc["sourceCommit"] = "newer"
    return json.dumps(doc).encode()


def test_update_installs_a_valid_table(server: _Server, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "cache" / "eol.json"
    monkeypatch.setattr(eol, "cache_path", lambda: dest)
    server.body = _newer_table()
    table = eol.update(server.url)
    assert table.origin == str(dest) and dest.is_file()
    loaded = eol.load_table()
    assert loaded.source_commit == "newer"
    status = eol.check(Distro(id="debian", version_id="9"), loaded, today=date(2024, 6, 1))
    assert status.state is EolState.EXTENDED


def test_update_refuses_a_bad_table_and_keeps_the_old_one(server: _Server, tmp_path: Path) -> None:
    dest = tmp_path / "eol.json"
    dest.write_bytes(eol.bundled_bytes())
    before = dest.read_bytes()
    server.body = b'{"schemaVersion": 1, "distros": {}}'
    with pytest.raises(FormatError, match="without distros"):
        eol.update(server.url, dest=dest)
    server.body, server.status = b"gone", 404
    with pytest.raises(DatabaseError, match="HTTP 404"):
        eol.update(server.url, dest=dest)
    assert dest.read_bytes() == before


def test_a_damaged_cache_falls_back_to_the_bundled_table(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "eol.json"
    damaged.write_text("{not json")
    monkeypatch.setattr(eol, "cache_path", lambda: damaged)
    assert eol.load_table().origin == "bundled"
    with pytest.raises(FormatError, match="not valid JSON"):
        eol.load_table(damaged)  # an explicit table is never silently replaced
