"""``license_words.split`` gives exactly the words licenseclassifier's own ``Dict.split``
gives (ids and offsets), on real licence texts and on anything else."""

from __future__ import annotations

import gzip
import importlib
import marshal
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from licenseclassifier._engine import dictionary

from hullcheck.catalog import license as lic
from hullcheck.catalog import license_words
from tests.fixtures.debootstrap import debootstrap_rootfs

ROOTFS = Path(__file__).parent.parent / "fixtures/rootfs"
SCAN = importlib.import_module("licenseclassifier._engine.scan")
MATCHER = importlib.import_module("licenseclassifier._engine.matcher")
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
        re = types.SimpleNamespace(ops=(), args=())

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


# -- the matcher's steps ------------------------------------------------------------------
def _scanners() -> tuple[Any, Any]:
    """A scanner as the library makes it, and one with ``LazySteps`` (both splitting words
    with ``split``, tested above, so only the matcher differs)."""
    library, lazy = _alone(), _alone()
    license_words.install(library)
    license_words.install(lazy)
    license_words.install_steps(lazy)
    return library, lazy


def _found(scanner: Any, text: str) -> tuple[float, list[tuple[str, int, int, bool]]]:
    cov = scanner.scan(text)
    return cov.percent, [(m.id, m.start, m.end, m.is_url) for m in cov.match]


def test_lazy_steps_match_what_the_library_matches_on_real_texts() -> None:
    library, lazy = _scanners()
    root = debootstrap_rootfs()
    paths = sorted(ROOTFS.glob("**/usr/share/doc/*/copyright"))
    paths += sorted((root / "usr/share/doc").glob("*/copyright"))
    paths += sorted((root / "usr/share/common-licenses").iterdir())
    matched = 0
    for path in paths:
        text = path.read_text(errors="replace")[:lic.MAX_DETECT]
        want = _found(library, text)
        assert _found(lazy, text) == want, path
        matched += bool(want[1])
    assert matched >= 50


_GPL_NOTICE = ("This program is free software; you can redistribute it and/or modify it under "
               "the terms of the GNU General Public License as published by the Free Software "
               "Foundation; either version 2 of the License, or (at your option) any later "
               "version.")
_MIT = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this "
        "software and associated documentation files (the \"Software\"), to deal in the "
        "Software without restriction, including without limitation the rights to use, copy, "
        "modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, "
        "and to permit persons to whom the Software is furnished to do so, subject to the "
        "following conditions:\n\nThe above copyright notice and this permission notice shall "
        "be included in all copies or substantial portions of the Software.\n\nTHE SOFTWARE "
        "IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING "
        "BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE "
        "AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR "
        "ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR "
        "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER "
        "DEALINGS IN THE SOFTWARE.")


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([_GPL_NOTICE, _MIT, _GPL_NOTICE + "\n\n" + _MIT]),
       st.lists(st.tuples(st.sampled_from(["join", "split", "drop", "double", "swap", "insert"]),
                          st.integers(0, 10_000), st.sampled_from(["x", "the", "licence", "."])),
                max_size=8))
def test_lazy_steps_match_what_the_library_matches_through_misspellings(
        base: str, edits: list[tuple[str, int, str]]) -> None:
    """Texts with words joined or split, letters dropped, doubled or swapped, words
    inserted: the library's spelling allowances (a word split or run on, a typo) take the
    same steps, from every word a match could start at and over the whole text."""
    text = base
    for kind, at, word in edits:
        i = at % len(text)
        if kind == "join":
            j = text.find(" ", i)
            text = text if j < 0 else text[:j] + text[j + 1:]
        elif kind == "split":
            text = f"{text[:i]} {text[i:]}"
        elif kind == "drop":
            text = text[:i] + text[i + 1:]
        elif kind == "double":
            text = text[:i] + text[i] + text[i:]
        elif kind == "swap" and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        elif kind == "insert":
            text = f"{text[:i]} {word} {text[i:]}"
    library, lazy = _LIBRARY_AND_LAZY
    assert _found(lazy, text) == _found(library, text)
    words = library.dict.split(text)
    steps = lazy.re._match_dfa
    for start in range(len(words)):
        assert steps(text, words, start) == library.re._match_dfa(text, words, start), start


_LIBRARY_AND_LAZY = _scanners()


def test_lazy_steps_compute_fewer_steps_than_the_library(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The library computes, for each state reached, the step on every word it could take;
    ``LazySteps`` only those the text takes."""
    counts = {"n": 0}
    real = MATCHER._nfa_next

    def counted(*args: Any) -> Any:
        counts["n"] += 1
        return real(*args)

    monkeypatch.setattr(MATCHER, "_nfa_next", counted)
    text = (ROOTFS / "dpkg/bookworm/usr/share/doc/libc6/copyright").read_text()
    steps = []
    for scanner in _scanners():
        counts["n"] = 0
        assert _found(scanner, text)[1]
        steps.append(counts["n"])
    library, lazy = steps
    assert 0 < lazy < library
