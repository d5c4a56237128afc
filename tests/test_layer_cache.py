"""The layer cache: a layer is read once, whatever image or command brings it again; a
damaged entry is read again, never trusted; least recently used entries go first."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hullcheck import layercache, pipeline
from hullcheck.cli.main import main
from hullcheck.image.writer import whiteout
from hullcheck.layercache import LayerCache
from hullcheck.pipeline.images import layer_cache
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer
from tests.secrets import fakes

# What a cold sbom keeps of each layer: its entries and the findings of its sinks (binaries,
# RECORD digests, copyright texts).
SECTIONS = 4

OS = {"etc/os-release": "ID=debian\nVERSION_ID=12\n"}
AWS = {"root/.aws/credentials": f"[default]\naws_access_key_id = {fakes.aws_key_id()}\n"
                                f"aws_secret_access_key = {fakes.aws_secret()}\n"}




def _base_layers() -> list[Any]:
    return [layer("dpkg/bookworm"), layer("python/system"), {**OS, **AWS}]


def _sbom(ref: str, cache: LayerCache | None) -> Any:
    with layer_cache(cache):
        return pipeline.inventory(pipeline.SbomRequest(image=ref, scope="all-layers"))


def test_an_image_of_cached_layers_and_one_new_reads_only_the_new(
        tmp_path: Path, opened: list[str]) -> None:
    base = write(build(*_base_layers()), tmp_path / "base")
    derived = write(build(*_base_layers(), {"srv/app.txt": "x"}, [whiteout("root/.aws")]),
                    tmp_path / "derived")
    cache = LayerCache(tmp_path / "cache")
    cold_base = _sbom(base, cache)
    assert len(opened) == 3
    opened.clear()
    warm = _sbom(derived, cache)
    cold = _sbom(derived, None)
    new = [la.digest for la in cold.layers[3:]]
    assert opened[:2] == new or sorted(opened[:2]) == sorted(new)  # the warm run's reads
    assert len(opened) == 2 + 5  # then the cold run read all five
    assert warm.packages == cold.packages and warm.layers == cold.layers
    assert warm.unknowns == cold.unknowns and warm.files_total == cold.files_total
    assert {p.name for p in cold_base.packages} <= {p.name for p in warm.packages}
    # three layers: entries, binaries, record digests, copyright texts; and the licences of
    # the six copyright files (each read as DEP-5; the two free-form ones' detections too)
    assert cache.hits == 3 * SECTIONS + 6 + 2


def test_the_same_layer_elsewhere_in_another_image_keeps_its_own_index(
        tmp_path: Path, opened: list[str]) -> None:
    """Cached findings carry no layer position: a Python package from a layer cached at
    index 0 is at index 1 in an image that puts another layer first."""
    py = layer("python/system")
    first = write(build(py), tmp_path / "a")
    second = write(build(OS, py), tmp_path / "b")
    cache = LayerCache(tmp_path / "cache")
    _sbom(first, cache)
    opened.clear()
    warm = _sbom(second, cache)
    assert len(opened) == 1  # the OS layer only
    cold = _sbom(second, None)
    assert warm.packages == cold.packages
    assert {p.layer for p in warm.packages if p.type.value == "pypi"} == {1}


def _entries(cache: LayerCache) -> list[Path]:
    return sorted(cache.directory.glob("*.layer"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "swap"])
def test_a_damaged_entry_is_read_again_not_trusted(tmp_path: Path, opened: list[str],
                                                   damage: str) -> None:
    ref = write(build(*_base_layers()), tmp_path / "img")
    cache = LayerCache(tmp_path / "cache")
    cold = _sbom(ref, cache)
    entries = _entries(cache)
    assert len(entries) == 3 * SECTIONS + 6 + 2  # 3 layers; 6 copyright files' licences
    for victim in entries:
        data = victim.read_bytes()
        if damage == "truncate":
            victim.write_bytes(data[: len(data) - 100])
        elif damage == "flip":
            victim.write_bytes(data[:-50] + bytes([data[-50] ^ 0x40]) + data[-49:])
    if damage == "swap":  # an entry under another's name: its header names another key
        a, b = entries[0].read_bytes(), entries[1].read_bytes()
        entries[0].write_bytes(b)
        entries[1].write_bytes(a)
    opened.clear()
    again = _sbom(ref, cache)
    assert cache.rejected >= 1 and opened  # noticed, and the layers read again
    assert again.packages == cold.packages and again.unknowns == cold.unknowns
    opened.clear()
    assert _sbom(ref, LayerCache(tmp_path / "cache")).packages == cold.packages
    assert opened == []  # rewritten whole: the third run reads nothing


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "c", max_bytes=40_000)
    noise = os.urandom(9000)  # incompressible: each entry is ~9 KB on disk
    for i in range(4):
        cache.put(f"k{i}", noise + bytes([i]))
        os.utime(cache._path(f"k{i}"), (1000 + i, 1000 + i))
    assert cache.get("k0") is not None  # k0 used now: k1 is the least recent
    cache.put("k4", noise + b"4")
    assert cache.get("k1") is None and cache.get("k0") is not None
    assert cache.get("k4") == noise + b"4"
    assert cache.status().bytes <= 40_000


def test_a_new_version_does_not_use_the_old_entries(tmp_path: Path, opened: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import hullcheck.filetree as ft

    ref = write(build(OS), tmp_path / "img")
    cache = LayerCache(tmp_path / "cache")
    _sbom(ref, cache)
    opened.clear()
    monkeypatch.setattr(ft, "__version__", "99.0")
    _sbom(ref, cache)
    assert len(opened) == 1
    assert dict(cache.status().versions) == {"0.1.0": SECTIONS, "99.0": 0} or \
        len(_entries(cache)) == 2 * SECTIONS


def test_secrets_after_sbom_reads_the_layers_for_the_scanner_only_once(
        tmp_path: Path, opened: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(build(*_base_layers(), [whiteout("root/.aws")]), tmp_path / "img")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["sbom", ref, "-o", "json", *cache]) == 0
    assert len(opened) == 4
    assert main(["config", ref, "-o", "json", *cache]) == 0
    assert len(opened) == 4  # the entries sbom kept serve config
    assert main(["secrets", ref, "-o", "json", *cache]) == 0
    assert len(opened) == 8  # the secret scanner's findings were not kept yet
    capsys.readouterr()
    assert main(["secrets", ref, "-o", "json", *cache]) == 0
    assert len(opened) == 8
    doc = json.loads(capsys.readouterr()[0])
    found = {(f["ruleId"], f["path"], f["visible"]) for f in doc["findings"]}
    assert ("aws-access-key-id", "/root/.aws/credentials", False) in found


def test_no_cache_keeps_nothing_and_the_cache_command(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ref = write(build(OS), tmp_path / "img")
    d = tmp_path / "cache"
    assert main(["sbom", ref, "-o", "json", "--no-cache"]) == 0
    assert main(["cache", "status", "--cache-dir", str(d), "-o", "json"]) == 0
    capsys.readouterr()
    assert main(["sbom", ref, "-o", "json", "--cache-dir", str(d)]) == 0
    capsys.readouterr()
    assert main(["cache", "status", "--cache-dir", str(d), "-o", "json"]) == 0
    status = json.loads(capsys.readouterr()[0])
    assert status["entries"] == SECTIONS and status["versions"] == {"0.1.0": SECTIONS}
    assert main(["cache", "clean", "--cache-dir", str(d)]) == 0
    assert f"removed {SECTIONS} entries" in capsys.readouterr()[0]
    assert list(d.glob("*.layer")) == []
    assert main(["sbom", ref, "--no-cache", "--cache-dir", str(d)]) == 2
    assert "choose one" in capsys.readouterr()[1]


def test_the_default_cache_is_the_environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HULLCHECK_CACHE_DIR", str(tmp_path / "env-cache"))
    ref = write(build(OS), tmp_path / "img")
    assert main(["sbom", ref, "-o", "json"]) == 0
    assert len(list((tmp_path / "env-cache").glob("*.layer"))) == SECTIONS
    assert os.stat(tmp_path / "env-cache").st_mode & 0o077 == 0  # private: it holds file bytes


def test_secrets_from_cached_layers_still_tell_the_distros_files(
        tmp_path: Path, opened: list[str]) -> None:
    """A match in a file its OS package installed unchanged is counted, not reported: the
    digests of files with a match travel in each layer's cached findings."""
    import hashlib

    conf = AWS["root/.aws/credentials"]
    md5 = hashlib.md5(conf.encode(), usedforsecurity=False).hexdigest()
    status = ("Package: app\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"
              f"Maintainer: A <a@example.org>\nConffiles:\n /etc/app.conf {md5}\n"
              "Description: x\n")
    ref = write(build({**OS, "var/lib/dpkg/status": status, "etc/app.conf": conf,
                       "var/lib/dpkg/info/app.list": "/etc\n/etc/app.conf\n"}, AWS),
                tmp_path / "img")
    cache = LayerCache(tmp_path / "cache")

    def scan() -> Any:
        with layer_cache(cache):
            return pipeline.secrets_scan(pipeline.SecretsRequest(image=ref))

    cold = scan()
    assert len(opened) == 2
    warm = scan()
    assert len(opened) == 2  # every layer's findings from the cache
    for report in (cold, warm):
        assert {f.path for f in report.findings} == {"/root/.aws/credentials"}
        assert (report.skipped.package_files, report.skipped.package_matches) == (1, 2)


def test_no_cache_on_the_command_line_wins_over_the_environments_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """$HULLCHECK_CACHE_DIR is also --cache-dir's setting: --no-cache given on the command
    line wins over it (only both on the command line is a mistake)."""
    env = tmp_path / "env-cache"
    monkeypatch.setenv("HULLCHECK_CACHE_DIR", str(env))
    ref = write(build(OS), tmp_path / "img")
    assert main(["sbom", ref, "-o", "json", "--no-cache"]) == 0
    assert not env.exists()
    monkeypatch.setenv("HULLCHECK_NO_CACHE", "true")
    assert main(["sbom", ref, "-o", "json", "--cache-dir", str(tmp_path / "cli")]) == 0
    assert len(list((tmp_path / "cli").glob("*.layer"))) == SECTIONS  # the command line's wins
    capsys.readouterr()
    assert main(["sbom", ref, "-o", "json"]) == 2  # both from the environment
    assert "choose one" in capsys.readouterr()[1]


def test_puts_list_the_directory_only_when_they_could_fill_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold run puts ~80 entries (a layer, its copyright texts' licences): the directory
    is listed at the first, then again only once what was written since could take it
    over its size, or the listing is old (another process may have written)."""
    cache = LayerCache(tmp_path / "c", max_bytes=40_000)
    listed: list[int] = []
    real = cache._entries

    def listing() -> list[tuple[float, int, Path]]:
        listed.append(1)
        return real()

    monkeypatch.setattr(cache, "_entries", listing)
    for i in range(30):
        cache.put(f"small{i}", b"x" * 100)
    assert len(listed) == 1
    assert all(cache.get(f"small{i}") == b"x" * 100 for i in range(30))

    # Another process fills the directory: seen at the first put after RELIST_SECONDS.
    other = LayerCache(tmp_path / "c", max_bytes=10**9)
    other.put("big", os.urandom(45_000))
    cache.put("one-more", b"y")
    assert len(listed) == 1 and len(_entries(cache)) == 32
    now = time.monotonic() + layercache.RELIST_SECONDS
    monkeypatch.setattr(time, "monotonic", lambda: now)
    cache.put("after-a-while", b"z")
    assert len(listed) == 2
    assert cache.status().bytes <= 40_000

    # What this process writes is counted: crossing the bound lists (and evicts) again.
    before = len(listed)
    for i in range(5):
        cache.put(f"large{i}", os.urandom(9000))
    assert len(listed) > before
    assert cache.status().bytes <= 40_000


def test_a_commands_entries_are_written_behind_and_all_by_its_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within ``layer_cache`` a put returns at once (a cold run's layer index, tens of MB,
    is written while the catalogers run), a get answers with it meanwhile, and every entry
    is on disk, whole, when the block ends."""
    import threading

    writers: list[str] = []
    real = layercache._write_atomically

    def recording(path: Path, head: bytes, data: bytes) -> None:
        writers.append(threading.current_thread().name)
        real(path, head, data)

    monkeypatch.setattr(layercache, "_write_atomically", recording)
    cache = LayerCache(tmp_path / "c")
    data = os.urandom(100_000)
    with layer_cache(cache):
        cache.put("index", data)
        assert cache.get("index") == data
        for i in range(20):
            cache.put(f"licence{i}", b"%d" % i)
    assert writers and set(writers) == {"layer-cache-write"}  # never this thread
    fresh = LayerCache(tmp_path / "c")
    assert fresh.get("index") == data and fresh.reads == 1
    assert all(fresh.get(f"licence{i}") == b"%d" % i for i in range(20))
    assert cache._writer is not None and not cache._writer.is_alive()
    cache.put("after", b"x")  # outside the block: written here, now
    assert writers[-1] == threading.current_thread().name and fresh.get("after") == b"x"


def test_threads_share_the_writer_and_each_block_ends_with_its_entries_written(
        tmp_path: Path) -> None:
    import threading

    cache = LayerCache(tmp_path / "c")
    fresh = LayerCache(tmp_path / "c")
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        with cache.writing_behind():
            cache.put("theirs", b"2")
            inside.set()
            done.wait()

    with cache.writing_behind():
        cache.put("mine", b"1")
        thread = threading.Thread(target=other)
        thread.start()
        inside.wait()
    assert fresh.get("mine") == b"1" and fresh.get("theirs") == b"2"
    assert cache._writer is not None and cache._writer.is_alive()  # theirs still open
    done.set()
    thread.join()
    assert not cache._writer.is_alive()


def test_a_bug_while_writing_behind_is_raised_where_the_block_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path, head: bytes, data: bytes) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(layercache, "_write_atomically", broken)
    cache = LayerCache(tmp_path / "c")
    with pytest.raises(ValueError, match="a bug"), cache.writing_behind():
        cache.put("k", b"1")
    assert cache.get("k") is None
