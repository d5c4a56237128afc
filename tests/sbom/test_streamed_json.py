"""The SPDX and native documents are written piece by piece (``sbom._json``): the same
bytes as ``json.dumps(indent=2)`` would write, holding little beside the document's bytes."""

from __future__ import annotations

import dataclasses
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck.model import ImageSource, Inventory, Location, Package, PackageType
from hullcheck.sbom import _json, native, spdx
from tests.sbom.test_cyclonedx_linear import inventories

text = st.text(alphabet=st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    ["\udcff", "é", "\x00", '"', "\\", "\u2028"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=30)


def _dumped(value: Any, quote: _json.Quote) -> str:
    out: list[str] = []
    _json.dump(value, "\n", out.append, quote)
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dump_writes_what_json_dumps_writes(value: Any) -> None:
    assert _dumped(value, _json.encode_basestring) == json.dumps(value, indent=2,
                                                                 ensure_ascii=False)
    assert _dumped(value, _json.encode_basestring_ascii) == json.dumps(value, indent=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(text, max_size=40), st.integers(min_value=1, max_value=5))
def test_pieces_encode_as_the_whole_text_would(pieces: list[str], batch: int,
                                               ) -> None:
    whole = "".join(pieces).encode("utf-8", "backslashreplace")
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_json, "BATCH", batch)
        writer = _json.Pieces(out, errors="backslashreplace")
        for p in pieces:
            writer.write(p)
        writer.flush()
    assert out.getvalue() == whole


def _spdx_oracle(data: bytes) -> bytes:
    """The SPDX document as json.dumps writes it: indented, except the elements of files
    and relationships, one per line (the form the encoder always wrote)."""
    doc = json.loads(data)
    parts = []
    for key, value in doc.items():
        if key in ("files", "relationships"):
            body = ",\n    ".join(json.dumps(v, ensure_ascii=False) for v in value)
            rendered = f"[\n    {body}\n  ]"
        else:
            rendered = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {rendered}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8", "backslashreplace")


@settings(max_examples=60, deadline=None)
@given(inventories())
def test_spdx_and_native_documents_are_what_json_dumps_writes(inventory: Inventory) -> None:
    for files in (True, False):
        data = spdx.encode(inventory, files=files)
        assert data == _spdx_oracle(data)
    data = native.encode(inventory)
    assert data.decode() == json.dumps(json.loads(data), indent=2, ensure_ascii=False) + "\n"


def test_a_lone_surrogate_in_a_native_document_is_escaped() -> None:
    inv = _many(3, 2)
    odd = dataclasses.replace(inv.packages[0], name="bad\udcffname")
    data = native.encode(dataclasses.replace(inv, packages=(odd, *inv.packages[1:])))
    assert b'"bad\\udcffname"' in data
    assert native.decode(json.loads(data), "x").packages[0].name == "bad\udcffname"


def _many(packages: int, files: int) -> Inventory:
    return Inventory(source=ImageSource(kind="oci", name="many"), packages=tuple(
        Package(type=PackageType.NPM, name=f"pkg-{i}", version="1.0.0",
                purl=f"pkg:npm/pkg-{i}@1.0.0", found_by="npm-package",
                locations=(Location(path=f"/app/node_modules/pkg-{i}/package.json"),),
                licenses=("MIT",),
                files=tuple(f"/app/node_modules/pkg-{i}/lib/f{j}.js" for j in range(files)))
        for i in range(packages)))


@pytest.mark.parametrize("encode", [spdx.encode, native.encode], ids=["spdx", "native"])
def test_encoding_holds_little_beside_the_document(encode: Any) -> None:
    """What encoding allocates at its peak, beside the document's bytes: json.dumps with an
    indent joined every token of the document (SPDX ~6x its size, native ~5x)."""
    inv = _many(300, 40)
    encode(inv)  # imports and tables loaded first
    tracemalloc.start()
    try:
        data = encode(inv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data) > 500_000
    assert peak < 2.5 * len(data)


@pytest.mark.parametrize("fmt", ["spdx-json", "json"])
def test_an_error_in_the_middle_of_a_document_leaves_no_file(
        fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The document is written piece by piece; a failure after some packages were written
    leaves neither the output file nor a temporary one, and says so in one line."""
    from hullcheck.cli.main import main
    from tests.fixtures.images import build, write
    from tests.fixtures.rootfs import layer

    ref = write(build(layer("dpkg/bookworm")), tmp_path)
    calls = {"n": 0}
    real = native._package

    def failing(p: Package) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk gone")
        return real(p)

    monkeypatch.setattr(native, "_package", failing)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["sbom", ref, "-o", f"{fmt}={out / 'sbom.json'}"]) == 3
    assert calls["n"] == 3
    assert list(out.iterdir()) == []
    assert "disk gone" in capsys.readouterr().err


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(max_size=5), max_size=4), max_size=5))
def test_lines_write_what_a_line_each_writes(batches: list[list[str]]) -> None:
    def written(in_batches: bool) -> bytes:
        out = io.BytesIO()
        text = _json.Pieces(out, errors="backslashreplace")
        doc = _json.Document(text)
        doc.start("a")
        for batch in batches:
            if in_batches:
                doc.lines(batch)
            else:
                for line in batch:
                    doc.line(line)
        doc.end()
        doc.close()
        text.flush()
        return out.getvalue()

    assert written(True) == written(False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), text), max_size=30), st.integers(1, 40))
def test_blocks_encode_as_the_whole_text_would_and_once_large(
        pieces: list[tuple[bool, str]], block: int) -> None:
    whole = "".join(p for _, p in pieces).encode("utf-8", "backslashreplace")
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_json, "BLOCK", block)
        writer = _json.Pieces(out, errors="backslashreplace")
        held, so_far = 0, ""  # characters of blocks written since the last encoding
        for is_block, p in pieces:
            so_far += p
            if is_block:
                writer.block(p)
                held += len(p)
                if held >= block:  # encoded now, with what came before
                    assert out.getvalue() == so_far.encode("utf-8", "backslashreplace")
                    held = 0
            else:
                writer.write(p)
        writer.flush()
    assert out.getvalue() == whole
