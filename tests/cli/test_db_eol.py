"""`hullcheck db update --eol-url URL` (or $HULLCHECK_EOL_URL): the advisory database and the
end-of-life table refreshed together, against a local HTTP server."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from hullcheck.base import eol
from hullcheck.base.model import EolState
from hullcheck.cli.main import main
from hullcheck.model import Distro
from tests.registry._servers import drip, serve
from tests.vulndb.test_update import Feed, _serve_fixtures, feed  # noqa: F401


def _newer_table() -> bytes:
    doc = json.loads(eol.bundled_bytes())
    # Pretend Debian 9's LTS was extended: what is read afterwards must be this table.
    for rel in doc["distros"]["debian"]["releases"]:
        if rel["cycle"] == "9":
            rel["extendedSupportEnd"] = "2099-01-01"
    doc["sourceCommit"] = "newer"
    return json.dumps(doc).encode()


@pytest.fixture
def served(feed: tuple[Feed, str], tmp_path: Path,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> tuple[Feed, str, Path]:
    """The feeds and /eol.json on 127.0.0.1; the user cache (where the table goes) in tmp."""
    state, base = feed
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HULLCHECK_EOL_URL", raising=False)
    listing = tmp_path / "sources.json"
    listing.write_text(json.dumps([{"name": s.name, "kind": s.kind.value,
                                    "urls": list(s.locations)}
                                   for s in _serve_fixtures(state, base)]))
    state.files["/eol.json"] = _newer_table()
    return state, base, listing


def update(capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: Path,
           *args: str) -> tuple[int, str]:
    code = main(["db", "update", "--db", str(tmp_path / "vuln.db"), "--sources", str(listing),
                 *args])
    return code, capsys.readouterr()[1]


def _debian9() -> EolState:
    table = eol.load_table()
    return eol.check(Distro(id="debian", version_id="9"), table, today=date(2024, 6, 1)).state


def test_eol_url_installs_the_newer_table(served: tuple[Feed, str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    state, base, listing = served
    assert eol.cache_path().is_relative_to(tmp_path)
    assert _debian9() is EolState.END_OF_LIFE  # the bundled table
    code, err = update(capsys, tmp_path, listing, "--eol-url", f"{base}/eol.json")
    assert code == 0, err
    assert "rebuilt" in err and f"from {base}/eol.json into {eol.cache_path()}" in err
    assert ("/eol.json", 200) in state.log
    assert eol.load_table().source_commit == "newer"
    assert _debian9() is EolState.EXTENDED


def test_eol_url_from_the_environment(served: tuple[Feed, str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    state, base, listing = served
    monkeypatch.setenv("HULLCHECK_EOL_URL", f"{base}/eol.json")
    code, err = update(capsys, tmp_path, listing)
    assert code == 0, err
    assert eol.load_table().source_commit == "newer"
    # The flag wins over the environment.
    state.files["/other.json"] = eol.bundled_bytes()
    code, err = update(capsys, tmp_path, listing, "--eol-url", f"{base}/other.json")
    assert code == 0, err
    assert ("/other.json", 200) in state.log
    assert eol.load_table().source_commit != "newer"


def test_without_a_url_the_table_is_left_alone(served: tuple[Feed, str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    state, _, listing = served
    code, err = update(capsys, tmp_path, listing)
    assert code == 0, err
    assert "end-of-life" not in err and not eol.cache_path().exists()
    assert all(path != "/eol.json" for path, _ in state.log)


def test_a_bad_table_keeps_the_previous_one(served: tuple[Feed, str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    state, base, listing = served
    assert update(capsys, tmp_path, listing, "--eol-url", f"{base}/eol.json")[0] == 0
    before = eol.cache_path().read_bytes()
    state.files["/eol.json"] = b'{"schemaVersion": 1, "distros": {}}'
    code, err = update(capsys, tmp_path, listing, "--eol-url", f"{base}/eol.json")
    assert code == 2 and "without distros" in err
    code, err = update(capsys, tmp_path, listing, "--eol-url", f"{base}/missing.json")
    assert code == 2 and "HTTP 404" in err
    assert eol.cache_path().read_bytes() == before
    assert _debian9() is EolState.EXTENDED


def test_a_url_that_is_not_http_is_a_usage_error(served: tuple[Feed, str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, _, listing = served
    code, err = update(capsys, tmp_path, listing, "--eol-url", "/etc/eol.json")
    assert code == 2 and "--eol-url: '/etc/eol.json' is not an http(s) URL" in err
    assert not (tmp_path / "vuln.db").exists()  # refused before any fetch


def test_a_dripping_eol_url_ends_at_the_timeout(served: tuple[Feed, str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """One byte a second is never a read timeout: --timeout bounds the whole command."""
    _, _, listing = served
    with serve(lambda h: drip(h, _newer_table(), stop=slow.stop)) as slow:
        code, err = update(capsys, tmp_path, listing, "--eol-url", f"{slow.url}/eol.json",
                           "--timeout", "3s")
    assert code == 2
    assert (f"hullcheck: error: db update: gave up after 3s (--timeout) while downloading "
            f"{slow.url}/eol.json") in err
    assert not eol.cache_path().exists()  # the bundled table stays in use
