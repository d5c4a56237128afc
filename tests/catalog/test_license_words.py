"""``license_words.split`` gives exactly the words licenseclassifier's own ``Dict.split``
gives (ids and offsets), on real licence texts and on anything else."""

from __future__ import annotations

import gzip
import importlib
import marshal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from licenseclassifier._engine import dictionary

from hullcheck.catalog import license as lic
from hullcheck.catalog import license_words
from tests.fixtures.debootstrap import debootstrap_rootfs

ROOTFS = Path(__file__).parent.parent / "fixtures/rootfs"
SCAN = importlib.import_module("licenseclassifier._engine.scan")
# What the library treats specially, and characters where str.isalpha/isdigit/Mn decide.
PIECES = ["<a href='x'>", "</b>", "<br/>", "< a>", "<:/x>", "&copy;", "&amp;", "&#169;",
          "&#x41;", "&#xZ;", "&x", "{#anchor}", "{# a}", "](http://x.org/a)", "](#x)",
          "](x)", "](mailto:a b)", "(c)", "(C)", "( c)", "(s)", "©", "Copyright", "COPYRIGHT",
          "https://example.org/licenses/MIT", "http", "this", "are", "these", "copies",
          "é", "È", "Ü", "ß", "İ", "ﬁ", "\u0301", "\u0300", "\u0308", "²", "½", "٣", "Ⅻ",
          "ǅ", "\u200b", "\u00a0", "\U0001d518", "\U0001f600", "licen", "se", "GPL", "2.0", "-",
          "\n", "\r\n", "\t", " ", "'", '"', ".", ",", ";", "/", "[", "]", "(", ")", "<",
          ">", "{", "}", "&", "#", ":", "@", "a", "Z", "0", "9"]


@pytest.fixture(scope="module")
def d() -> dictionary.Dict:
    scanner = SCAN._load_prebuilt() or SCAN.build_from_source()  # not the shared one
    return scanner.dict


def test_real_copyright_texts_split_the_same(d: dictionary.Dict) -> None:
    """The fixtures' copyright files, and every copyright file and common licence of the
    real debootstrap bookworm root (89 packages)."""
    root = debootstrap_rootfs()
    paths = sorted(ROOTFS.glob("**/usr/share/doc/*/copyright"))
    paths += sorted((root / "usr/share/doc").glob("*/copyright"))
    paths += sorted((root / "usr/share/common-licenses").iterdir())
    assert len(paths) >= 100
    for path in paths:
        text = path.read_text(errors="replace")
        assert license_words.split(d, text) == d.split(text), path


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=40))
def test_any_text_splits_the_same(d: dictionary.Dict, pieces: list[str]) -> None:
    text = "".join(pieces)
    assert license_words.split(d, text) == d.split(text)


def test_classifying_uses_it_and_finds_what_the_library_alone_finds(
        d: dictionary.Dict) -> None:
    from licenseclassifier import identify_license

    text = (ROOTFS / "dpkg/bookworm/usr/share/doc/libc6/copyright").read_text()
    lic.classify(text)  # installs it on the shared scanner
    shared = SCAN.builtin_scanner()
    assert "split" in vars(shared.dict)  # the instance's own: license_words'
    with_it = identify_license(text, coverage_threshold=0.0)
    library = SCAN.Scanner.scan(_alone(), text)
    assert [(m.id, m.start, m.end) for m in with_it] == [
        (m.id, m.start, m.end) for m in library.match]


def _alone() -> object:
    scanner = SCAN._load_prebuilt() or SCAN.build_from_source()
    assert "split" not in vars(scanner.dict)
    return scanner


def test_the_scanner_is_read_in_one_piece_and_is_the_librarys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``builtin_scanner`` makes the shared scanner from the prebuilt file without the
    library's loader (which unmarshals from the gzip stream in small reads), and it holds
    what the library's loader reads: the same program, words, ids and URLs."""
    expected = _alone()
    monkeypatch.setattr(SCAN, "_builtin", None)

    def library_loader() -> None:
        raise AssertionError("the library's stream loader was used")

    monkeypatch.setattr(SCAN, "_load_prebuilt", library_loader)
    scanner = license_words.builtin_scanner()
    assert SCAN._builtin is scanner
    assert "split" in vars(scanner.dict)
    got, want = scanner.compiled_data(), expected.compiled_data()  # type: ignore[attr-defined]
    assert got == want
    assert len(got["ids"]) > 100


def test_a_file_the_library_would_refuse_is_left_to_the_library(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Not gzip, or another format version: the library's own path (which compiles the
    patterns from source) makes the scanner."""
    made = []

    class Built:
        dict = dictionary.Dict()

    def from_source() -> Built:
        made.append(1)
        return Built()

    monkeypatch.setattr(SCAN, "build_from_source", from_source)
    for name, data in (("garbage", b"not gzip at all"),
                       ("old", gzip.compress(marshal.dumps({"version": -1})))):
        artifact = tmp_path / name
        artifact.write_bytes(data)
        monkeypatch.setattr(SCAN, "_ARTIFACT_PATH", artifact)
        monkeypatch.setattr(SCAN, "_builtin", None)
        scanner = license_words.builtin_scanner()
        assert isinstance(scanner, Built)
        assert "split" in vars(scanner.dict)
    assert made == [1, 1]
