"""Rust: cargo-auditable data in a real ELF (gcc + objcopy), Cargo.lock files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import zlib
from pathlib import Path

import pytest

from hullcheck import catalog
from hullcheck.catalog import rust
from hullcheck.catalog.elf import EXECUTABLE_GLOBS
from hullcheck.catalog.rust import CargoLockCataloger, RustAuditableCataloger
from hullcheck.errors import FormatError
from hullcheck.image.writer import file
from hullcheck.model import ImageSource, Inventory, PackageType
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.binaries.paged import needs_rss, paged, resident
from tests.fixtures.images import tree_of
from tests.fixtures.tools import need_command

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rust"
SOURCE = ImageSource(kind="oci", name="test")


def run(tmp_path: Path, files: dict[str, bytes], cataloger: object) -> Inventory:
    globs = (*EXECUTABLE_GLOBS, *CargoLockCataloger.globs)
    tree = tree_of(tmp_path, {k: file(k.lstrip("/"), v, 0o755) for k, v in files.items()},
                   globs=globs)
    return catalog.run(tree, SOURCE, catalogers=(cataloger,))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def auditable_elf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real gcc-built executable with a .dep-v0 section added by objcopy."""
    gcc = need_command("gcc", "gcc")
    objcopy = need_command("objcopy", "binutils")
    d = tmp_path_factory.mktemp("rust")
    (d / "main.c").write_text("int main(void) { return 0; }\n")
    (d / "dep.z").write_bytes(zlib.compress((FIXTURES / "dep-v0.json").read_bytes()))
    subprocess.run([gcc, "-o", str(d / "plain"), str(d / "main.c")], check=True)
    subprocess.run([objcopy, "--add-section", f".dep-v0={d / 'dep.z'}",
                    "--set-section-flags", ".dep-v0=noload,readonly",
                    str(d / "plain"), str(d / "hello")], check=True)
    return (d / "hello").read_bytes()


def test_auditable_binary_lists_runtime_crates(auditable_elf: bytes, tmp_path: Path) -> None:
    inv = run(tmp_path, {"/usr/local/bin/hello": auditable_elf, "/usr/bin/notes": b"text"},
              RustAuditableCataloger())
    assert not inv.unknowns
    got = {(p.name, p.version, p.purl) for p in inv.packages}
    assert got == {
        ("adler", "1.0.2", "pkg:cargo/adler@1.0.2"),
        ("hello", "0.1.0", "pkg:cargo/hello@0.1.0"),
        ("miniz_oxide", "0.7.1", "pkg:cargo/miniz_oxide@0.7.1"),
    }  # "cc" is a build dependency: not in the binary
    hello = next(p for p in inv.packages if p.name == "hello")
    assert dict(hello.extras) == {"root": "true", "source": "local"}
    assert hello.type is PackageType.CARGO and hello.found_by == "rust-cargo-auditable"
    assert hello.locations[0].path == "/usr/local/bin/hello"


def test_audit_data_from_a_map_equals_from_bytes(auditable_elf: bytes) -> None:
    """What the binary sink gives for a spooled file; the section is read through a view,
    released before the map closes (closing it with a view left open raises)."""
    with paged(auditable_elf) as m:
        got = rust.binary_packages(m, "/srv/hello")
    assert got == rust.binary_packages(auditable_elf, "/srv/hello")
    assert {p.name for p in got} == {"adler", "hello", "miniz_oxide"}


def test_audit_data_is_decompressed_a_chunk_at_a_time() -> None:
    """Compressed data over several input chunks decompresses whole; the output limit holds
    to the byte; bytes after the zlib stream are ignored."""
    text = json.dumps({"packages": [], "pad": random.Random(3).randbytes(3 << 20).hex()})
    raw = zlib.compress(text.encode())
    assert len(raw) > 3 * rust.INPUT_CHUNK
    assert rust.decompress_audit_data(memoryview(raw + b"trailing")) == text.encode()
    exact = zlib.compress(bytes(rust.MAX_JSON))
    assert len(rust.decompress_audit_data(exact)) == rust.MAX_JSON
    with pytest.raises(FormatError, match="decompresses to over"):
        rust.decompress_audit_data(zlib.compress(bytes(rust.MAX_JSON + 1)))


def test_plain_elf_without_section_gives_nothing(tmp_path: Path) -> None:
    inv = run(tmp_path, {"/usr/bin/x": make_elf([(".rodata", b"x")])}, RustAuditableCataloger())
    assert inv.packages == () and inv.unknowns == ()


@pytest.mark.parametrize("section, message", [
    (zlib.compress(bytes(64 << 20)), "decompresses to over"),
    (b"not zlib at all", "bad zlib data"),
    (zlib.compress(b"[1, 2]"), "no 'packages' array"),
    (zlib.compress(b'{"packages": [{"name": "x"}]}'), "lacks a name or version"),
])
def test_hostile_audit_data_is_an_unknown(section: bytes, message: str, tmp_path: Path) -> None:
    elf = make_elf([(".dep-v0", section)])
    inv = run(tmp_path, {"/usr/bin/x": elf}, RustAuditableCataloger())
    assert inv.packages == ()
    assert [u.reason for u in inv.unknowns if message in u.reason] != []


def test_truncated_elf_is_an_unknown(auditable_elf: bytes, tmp_path: Path) -> None:
    inv = run(tmp_path, {"/usr/bin/x": auditable_elf[:4096] + b".dep-v0"},
              RustAuditableCataloger())
    assert inv.packages == ()
    assert len(inv.unknowns) == 1 and "beyond end of file" in inv.unknowns[0].reason


def test_cargo_lock(tmp_path: Path) -> None:
    inv = run(tmp_path, {"/src/app/Cargo.lock": (FIXTURES / "Cargo.lock").read_bytes()},
              CargoLockCataloger())
    got = {p.name: p for p in inv.packages}
    assert set(got) == {"cfg-if", "hello", "smallvec"}
    assert got["smallvec"].purl == "pkg:cargo/smallvec@1.11.2"
    assert dict(got["smallvec"].extras)["checksum"].startswith("4dccd094")
    assert dict(got["hello"].extras) == {"source": ""}
    assert got["cfg-if"].found_by == "rust-cargo-lock"


def test_cargo_lock_garbage_is_an_unknown(tmp_path: Path) -> None:
    inv = run(tmp_path, {"/Cargo.lock": b"[[package]\nname = "}, CargoLockCataloger())
    assert inv.packages == () and "not TOML" in inv.unknowns[0].reason


def test_cargo_generated_lockfile(tmp_path: Path) -> None:
    need_command("cargo", "cargo")
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "solo"\nversion = "0.3.1"\nedition = "2021"\n')
    (crate / "src" / "main.rs").write_text("fn main() {}\n")
    env = {**os.environ, "CARGO_NET_OFFLINE": "true", "CARGO_HOME": str(tmp_path / "home")}
    subprocess.run(["cargo", "generate-lockfile", "--offline"], cwd=crate, env=env, check=True,
                   capture_output=True, timeout=120)
    inv = run(tmp_path, {"/src/Cargo.lock": (crate / "Cargo.lock").read_bytes()},
              CargoLockCataloger())
    assert [(p.name, p.version) for p in inv.packages] == [("solo", "0.3.1")]


@needs_rss
def test_a_section_inflated_for_nothing_is_released_behind_the_inflater() -> None:
    """Empty stored blocks inflate to nothing, so zlib reads all of a hostile section: from
    a map, 64 MiB of them were once 64 MB resident. Released as it goes."""
    blocks = b"\x78\x01" + b"\x00\x00\x00\xff\xff" * ((64 << 20) // 5)
    with paged(make_elf([(".dep-v0", blocks)])) as m:
        before = resident()
        with pytest.raises(FormatError, match="not JSON"):
            rust.binary_packages(m, "/srv/app")
        growth = resident() - before
    assert growth < 16 << 20


class _Finds(bytes):
    """Bytes that remember the span of each ``find``."""

    spans: list[tuple[int, int]]

    def find(self, sub: bytes, start: int | None = None,  # type: ignore[override]
             end: int | None = None) -> int:
        s = 0 if start is None else start
        e = len(self) if end is None else end
        self.spans.append((s, e))
        return super().find(sub, s, e)


def _finds(data: bytes) -> _Finds:
    out = _Finds(data)
    out.spans = []
    return out


def test_only_the_section_name_table_is_searched_for_the_name(auditable_elf: bytes) -> None:
    """The name is looked for in the section name table the headers locate, not in the
    whole file (36 ms for the small bench image's executables); found there, the same
    crates; a program that only mentions the name elsewhere has none."""
    found = _finds(auditable_elf)
    assert {p.name for p in rust.binary_packages(found, "/x")} >= {"hello", "adler"}
    mentions = _finds(make_elf([(".rodata", b"reads .dep-v0 sections\0" + bytes(4096))]))
    assert rust.binary_packages(mentions, "/x") == []
    for data in (found, mentions):
        assert data.spans and all(e - s < 4096 for s, e in data.spans)
    # Headers that locate no table: the whole file, as before (parse_elf then says why).
    broken = _finds(auditable_elf[:4096] + b".dep-v0")
    with pytest.raises(FormatError):
        rust.binary_packages(broken, "/x")
    assert (0, len(broken)) in broken.spans
