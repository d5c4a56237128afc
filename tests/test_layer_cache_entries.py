"""Layer cache entries at the byte level: what the header's checksum must catch (and an
entry of the older SHA-256 format is read again, not trusted), and what a hit costs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from hullcheck import __version__, layercache
from hullcheck.layercache import LayerCache

KEY = "sha256:" + "ab" * 32 + " globs"
DATA = bytes(range(256)) * 4096  # 1 MiB


def _stored(tmp_path: Path) -> tuple[LayerCache, Path]:
    cache = LayerCache(tmp_path)
    cache.put(KEY, DATA, "label")
    (path,) = tmp_path.glob("*.layer")
    return cache, path


def test_an_entry_round_trips_and_its_header_names_the_checksum(tmp_path: Path) -> None:
    cache, path = _stored(tmp_path)
    assert cache.get(KEY) == DATA and cache.hits == 1
    header = layercache.header_of(path.read_bytes()[:4096])
    assert header["xxh3_128"] == layercache.checksum(DATA) and header["length"] == len(DATA)


@pytest.mark.parametrize("where", [0, len(DATA) // 2, len(DATA) - 1])
def test_one_flipped_bit_anywhere_in_the_data_is_caught(tmp_path: Path, where: int) -> None:
    cache, path = _stored(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) - len(DATA) + where] ^= 0x01
    path.write_bytes(bytes(raw))
    assert cache.get(KEY) is None and cache.rejected == 1 and not path.exists()
    assert layercache.verified(bytes(raw), KEY) is None  # the table's check agrees


def test_an_entry_of_the_sha256_format_is_read_again_not_trusted(tmp_path: Path) -> None:
    cache, path = _stored(tmp_path)
    header = json.dumps({"key": KEY, "label": "", "version": __version__, "length": len(DATA),
                         "sha256": hashlib.sha256(DATA).hexdigest()})
    path.write_bytes(b"HCLC 2\n" + header.encode() + b"\n" + DATA)
    assert cache.get(KEY) is None and cache.rejected == 1


@pytest.mark.parametrize("raw", [b"", b"HCLC 3\n", b"HCLC 3\n{}", b"HCLC 3\n" + b"x" * 70000])
def test_an_entry_without_a_whole_header_is_refused(tmp_path: Path, raw: bytes) -> None:
    cache, path = _stored(tmp_path)
    path.write_bytes(raw)
    assert cache.get(KEY) is None and cache.rejected == 1


def test_a_hit_checks_the_data_it_returns_once_and_hashes_no_sha256_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, _ = _stored(tmp_path)
    checked: list[bytes | memoryview] = []
    hashed: list[int] = []
    real_checksum, real_sha256 = layercache.checksum, hashlib.sha256

    def counting_checksum(data: bytes | memoryview) -> str:
        checked.append(data)
        return real_checksum(data)

    def counting_sha256(data: bytes = b"") -> hashlib._Hash:
        hashed.append(len(data))
        return real_sha256(data)

    monkeypatch.setattr(layercache, "checksum", counting_checksum)
    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    data = cache.get(KEY)
    assert data == DATA
    assert len(checked) == 1 and checked[0] is data  # the bytes returned are the ones checked
    assert sum(hashed) < 200  # only the key's name is hashed (SHA-256 of a 1 MiB entry before)


# -- verified entries kept in memory (the service's worker) ----------------------------------


def _remembering(tmp_path: Path, memory_bytes: int = 4 << 20) -> tuple[LayerCache, Path]:
    cache = LayerCache(tmp_path, memory_bytes=memory_bytes)
    cache.put(KEY, DATA, "label")
    (path,) = tmp_path.glob("*.layer")
    return cache, path


def test_an_entry_verified_once_is_answered_from_memory_and_still_touched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, path = _remembering(tmp_path)
    touched: list[str] = []
    real_utime = os.utime

    def counting_utime(p: str | Path, *args: object, **kwargs: object) -> None:
        touched.append(str(p))
        real_utime(p, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", counting_utime)
    for _ in range(4):
        assert cache.get(KEY) == DATA
    assert cache.reads == 0 and cache.hits == 4  # what it wrote is known good
    assert touched == [str(path)] * 4  # every use keeps the file recent (the LRU on disk)
    other = LayerCache(tmp_path, memory_bytes=4 << 20)  # another process's
    assert other.get(KEY) == DATA and other.get(KEY) == DATA and other.reads == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "same-times"])
def test_a_file_damaged_after_it_was_verified_is_read_again_and_refused(
        tmp_path: Path, damage: str) -> None:
    cache, path = _remembering(tmp_path)
    assert cache.get(KEY) == DATA
    raw = bytearray(path.read_bytes())
    before = path.stat()
    if damage == "truncate":
        del raw[-100:]
    else:
        raw[-50] ^= 0x40
    path.write_bytes(bytes(raw))
    if damage == "same-times":  # the modification time set back: the change time still moves
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert cache.get(KEY) is None
    assert cache.reads == 1 and cache.rejected == 1 and not path.exists()
    cache.put(KEY, DATA)  # rebuilt
    assert cache.get(KEY) == DATA and cache.reads == 1


def test_a_removed_or_cleaned_entry_is_not_answered_from_memory(tmp_path: Path) -> None:
    cache, path = _remembering(tmp_path)
    assert cache.get(KEY) == DATA
    path.unlink()
    assert cache.get(KEY) is None and cache.misses == 1
    cache.put(KEY, DATA)
    assert cache.get(KEY) == DATA
    assert cache.clean() == 1 and cache.get(KEY) is None


def test_memory_keeps_the_most_recently_used_entries_within_its_bound(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path, memory_bytes=2 * len(DATA) + 10)
    keys = [f"{KEY} {i}" for i in range(3)]
    for k in keys:
        cache.put(k, DATA)
    assert cache.get(keys[2]) == DATA and cache.get(keys[1]) == DATA and cache.reads == 0
    assert cache.get(keys[0]) == DATA and cache.reads == 1  # the oldest had gone
    assert cache.get(keys[1]) == DATA and cache.reads == 1
    assert cache.get(keys[2]) == DATA and cache.reads == 2  # pushed out by keys[0]


def test_no_memory_by_default_every_get_reads_its_file(tmp_path: Path) -> None:
    cache, _ = _stored(tmp_path)
    for _ in range(3):
        assert cache.get(KEY) == DATA
    assert cache.reads == 3
