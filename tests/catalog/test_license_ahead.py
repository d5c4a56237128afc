"""Free-form copyright texts classified ahead, in a helper process, while the layer read in
this process streams by (``catalog.license.Ahead``, ``dpkg.CopyrightsAhead``): the same
answers as classifying here, and any failure of the helper means classifying here."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import licenseclassifier
import pytest

from hullcheck import deadline
from hullcheck.catalog import license as lic
from hullcheck.catalog.dpkg import COPYRIGHT_TEXTS, CopyrightsAhead, CopyrightTexts, texts_of
from hullcheck.errors import DeadlineExceeded
from hullcheck.filetree import analysis
from hullcheck.pipeline import SbomRequest, read_image
from tests.fixtures.images import build, write
from tests.fixtures.rootfs import layer

OS = {"etc/os-release": "ID=debian\nVERSION_ID=12\n"}
DOC = Path(__file__).parent.parent / "fixtures/rootfs/dpkg/bookworm/usr/share/doc"


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of each text classified in this process."""
    seen: list[int] = []
    real = licenseclassifier.identify_license

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(licenseclassifier, "identify_license", counting)
    yield seen


def _licences(ref: str) -> tuple[dict[str, Any], lic.Ahead | None]:
    """Each package's licences and detections, and the read's helper (ended by now)."""
    read = read_image(SbomRequest(image=ref))
    inv = read.inventory("squashed")
    return ({p.name: (p.licenses, p.detected_licenses) for p in inv.packages}, read.ahead)


def _classified_here(ref: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The licences with nothing given to a helper."""
    with monkeypatch.context() as m:
        m.setattr(lic.Ahead, "give", lambda self, text: None)
        return _licences(ref)[0]


def _image(tmp_path: Path) -> str:
    return write(build(layer("dpkg/bookworm"), OS), tmp_path / "img")


def test_texts_are_classified_in_the_helper_with_the_same_answers(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path)
    found, ahead = _licences(ref)
    assert here == []  # every free-form text was answered by the helper
    assert ahead is not None and ahead._proc is not None
    assert ahead._proc.returncode is not None  # and it ended with the catalogers
    detected = {n: d for n, (_, d) in found.items() if d}
    assert {"base-files", "libc6"} <= set(detected)

    assert _classified_here(ref, monkeypatch) == found
    assert here  # classified here this time


def test_a_helper_that_dies_or_answers_nonsense_means_classifying_here(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path)
    expected = _classified_here(ref, monkeypatch)
    for helper in ("import sys; sys.exit(3)",
                   "import sys\nsys.stdin.buffer.read(4)\nprint('{\"not\": \"regions\"}')",
                   "import sys\nsys.stdin.buffer.read(4)\nprint('[[\"MIT\", 0, \"x\"]]')",
                   "import sys\nsys.stdin.buffer.read(4)\nprint('[[\"MIT\", 0')"):
        monkeypatch.setattr(lic, "_HELPER", helper)
        here.clear()
        found, ahead = _licences(ref)
        assert ahead is not None and ahead.failed
        assert here  # classified here instead
        assert found == expected


def test_a_helper_that_cannot_start_means_classifying_here(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _image(tmp_path)
    expected = _classified_here(ref, monkeypatch)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    found, ahead = _licences(ref)
    assert ahead is not None and ahead.failed and ahead._proc is None
    assert here and found == expected


def test_the_helper_imports_no_module_of_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A licenseclassifier planted where the command runs is not the one the helper runs."""
    planted = tmp_path / "cwd" / "licenseclassifier"
    planted.mkdir(parents=True)
    marker = tmp_path / "ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(planted.parent)
    monkeypatch.setenv("PYTHONPATH", str(planted.parent))
    text = (DOC / "base-files" / "copyright").read_text()
    ahead = lic.Ahead()
    ahead.give(text)
    found = ahead.answer(text)
    ahead.close()
    assert not marker.exists()
    assert found is not None and lic._detection(text, found) == lic.classify(text)


def test_waiting_for_the_helper_honours_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that never answers holds ``detect`` only until the command's deadline."""
    monkeypatch.setattr(lic, "_HELPER", "import sys\nsys.stdin.buffer.read()\n")
    text = (DOC / "base-files" / "copyright").read_text()
    ahead = lic.Ahead()
    ahead.give(text)
    with pytest.raises(DeadlineExceeded), deadline.within(0.2, "sbom test"), \
            lic.answers_from(ahead):
        lic.detect(text)
    ahead.close()
    assert ahead._proc is not None and ahead._proc.returncode is not None


def test_the_helper_is_given_free_form_texts_once_within_its_budget() -> None:
    ahead = lic.Ahead(budget=5000)
    given: list[str] = []

    def start() -> bool:
        given.append("started")
        return False

    ahead._start = start  # type: ignore[method-assign]
    ahead.give("x" * 6000)  # over the budget: never started
    assert given == [] and not ahead.failed
    sink = CopyrightsAhead(ahead)
    assert sink.wants("/usr/share/doc/bash/copyright", 10)
    assert not sink.wants("/usr/share/doc/bash/changelog.gz", 10)
    assert not sink.wants("/usr/share/doc/bash/examples/copyright", 10)
    assert not sink.wants("/srv/usr/share/doc/bash/copyright", 10)
    dep5 = (DOC / "bash" / "copyright").read_bytes()
    assert b"copyright-format" in dep5
    sink.take(0, "/usr/share/doc/bash/copyright", dep5)  # declared: not classified
    assert given == []


def test_the_helper_ends_when_the_ahead_is_dropped() -> None:
    text = (DOC / "base-files" / "copyright").read_text()
    ahead = lic.Ahead()
    ahead.give(text)
    proc = ahead._proc
    assert proc is not None
    del ahead
    assert proc.returncode is not None  # killed and reaped by the finalizer
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_answers_are_matched_to_their_texts_in_any_order_asked() -> None:
    texts = [(DOC / name / "copyright").read_text() for name in ("base-files", "libc6")]
    ahead = lic.Ahead()
    for text in texts:
        ahead.give(text)
    answers = [ahead.answer(text) for text in reversed(texts)]
    ahead.close()
    assert [lic._detection(t, a or []) for t, a in zip(reversed(texts), answers, strict=True)] \
        == [lic.classify(t) for t in reversed(texts)]
    assert json.dumps(answers)  # plain lists of (id, start, end)


def test_a_debian_layer_starts_the_helper_before_its_copyright_texts() -> None:
    """/etc/debian_version streams by long before /usr/share/doc: the helper loads the
    classifier's templates meanwhile; other paths start nothing."""
    ahead = lic.Ahead()
    sink = CopyrightsAhead(ahead)
    assert not sink.wants("/etc/os-release", 10) and _helper(ahead) is None
    assert not sink.wants("/etc/debian_version", 10)  # not a text to classify
    proc = _helper(ahead)
    assert proc is not None and proc.poll() is None
    text = (DOC / "base-files" / "copyright").read_text()
    ahead.give(text)
    assert _helper(ahead) is proc  # the one helper
    found = ahead.answer(text)
    ahead.close()
    assert found is not None and lic._detection(text, found) == lic.classify(text)


def _helper(ahead: lic.Ahead) -> subprocess.Popen[bytes] | None:
    return ahead._proc


def test_files_too_large_to_keep_are_not_read_for_the_helper(tmp_path: Path) -> None:
    """A copyright file over the helper's bound is not read into memory for it (one over the
    size limit is not kept at all): the layer's other texts still go to the helper, and
    the catalog answers as before."""
    from hullcheck.catalog.dpkg import MAX_AHEAD_FILE

    ahead = lic.Ahead()
    sink = CopyrightsAhead(ahead)
    assert sink.wants_matched("/usr/share/doc/bash/copyright", MAX_AHEAD_FILE, True)
    assert not sink.wants_matched("/usr/share/doc/bash/copyright", MAX_AHEAD_FILE + 1, True)
    assert not sink.wants_matched("/usr/share/doc/bash/copyright", 10, False)
    ahead.close()

    big = "Copyright 2024 someone.\n" + "Permission is granted. " * 60_000  # ~1.4 MB
    files = {**OS, "usr/share/doc/big/copyright": big}
    ref = write(build(layer("dpkg/bookworm"), files), tmp_path / "img")
    read = read_image(SbomRequest(image=ref, max_file_size=1 << 20))  # the big one not kept
    assert read.ahead is not None
    given = set(read.ahead._given)
    read.inventory("squashed")
    assert given and not any(t.startswith("Copyright 2024 someone.") for t in given)


def test_reading_a_debian_layer_here_starts_the_helper(tmp_path: Path) -> None:
    debian = write(build({**OS, "etc/debian_version": "12.5\n"}), tmp_path / "debian")
    read = read_image(SbomRequest(image=debian))
    assert read.ahead is not None and _helper(read.ahead) is not None
    read.inventory("squashed")
    other = write(build(OS), tmp_path / "other")
    read = read_image(SbomRequest(image=other))
    assert read.ahead is not None and _helper(read.ahead) is None  # nothing started


def test_the_helper_starts_without_site_packages_and_still_classifies() -> None:
    """``-I -S``: no site-packages on its path and none of their .pth files run at its start
    (the coverage and setuptools hooks: a few ms of every cold run); the classifier's own
    directory, handed to it, is all it imports from."""
    ahead = lic.Ahead()
    ahead.prepare()
    proc = _helper(ahead)
    assert proc is not None
    assert list(proc.args)[1:3] == ["-I", "-S"]  # type: ignore[arg-type]
    text = (DOC / "base-files" / "copyright").read_text()
    ahead.give(text)
    found = ahead.answer(text)
    ahead.close()
    assert found and lic._detection(text, found) == lic.classify(text)


# -- layers read in worker processes -----------------------------------------------------
def _in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every layer read in a worker process, two of them, however small the image."""
    monkeypatch.setattr(analysis, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv(analysis.ENV_WORKERS, "2")


def test_texts_of_a_layer_read_in_a_worker_go_to_the_helper_as_it_ends(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """In worker mode this process sees no file stream by: the worker collects the layer's
    free-form texts (``CopyrightTexts``) and they go to the helper as that worker ends, so
    none is classified here, with the same answers."""
    ref = write(build(layer("dpkg/bookworm"), OS, {"srv/app": "x" * 1000}), tmp_path / "img")
    expected = _classified_here(ref, monkeypatch)
    here.clear()
    _in_workers(monkeypatch)
    told: list[int] = []
    real = CopyrightsAhead.layer_read

    def layer_read(self: CopyrightsAhead, layer: int, results: Any) -> None:
        told.append(layer)
        real(self, layer, results)

    monkeypatch.setattr(CopyrightsAhead, "layer_read", layer_read)
    found, ahead = _licences(ref)
    assert here == []  # every free-form text was answered by the helper
    assert sorted(told) == [0, 1, 2]  # each worker's findings, once
    assert ahead is not None and ahead._proc is not None and len(ahead._given) >= 2
    assert found == expected


def test_a_layers_texts_section_holds_its_free_form_texts_once() -> None:
    spec = CopyrightTexts()
    sink = spec.new()
    free = (DOC / "base-files" / "copyright").read_bytes()
    dep5 = (DOC / "bash" / "copyright").read_bytes()
    for path, data in (("/usr/share/doc/base-files/copyright", free),
                       ("/usr/share/doc/bash/copyright", dep5),
                       ("/usr/share/doc/base-files2/copyright", free)):
        assert sink.wants_matched(path, len(data), True)
        sink.take(0, path, data)
    assert not sink.wants_matched("/usr/share/doc/x/copyright", 10, False)
    assert not sink.wants("/usr/share/doc/x/y/copyright", 10)
    texts = texts_of(spec.result(sink))
    assert texts == [free.decode()[:lic.MAX_DETECT]]  # once; the DEP-5 one left out
    ahead = lic.Ahead()
    given: list[str] = []
    ahead.give = given.append  # type: ignore[method-assign,assignment]
    CopyrightsAhead(ahead).layer_read(0, {COPYRIGHT_TEXTS: spec.result(sink), "other": b"x"})
    assert given == texts
    CopyrightsAhead(ahead).layer_read(1, {})  # a layer with no such section: nothing
    assert given == texts


@pytest.mark.parametrize("section", [b"", b"{", b'{"a": 1}', b'["ok", 3, null]', b"\xff"])
def test_a_texts_section_that_is_not_a_list_of_texts_gives_no_text(section: bytes) -> None:
    assert texts_of(section) == (["ok"] if section.startswith(b'["ok"') else [])


def test_the_tail_is_prepared_once_the_first_worker_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent waits for its workers: as the first one ends, a thread builds the SPDX
    table and imports the encoders the catalogers and encoders will need. A read in this
    process (busy reading) prepares nothing ahead."""
    from hullcheck.pipeline import images

    ref = write(build(layer("dpkg/bookworm"), OS, {"srv/app": "x" * 1000}), tmp_path / "img")
    calls: list[str] = []
    done = threading.Event()

    def prepare() -> None:
        calls.append(threading.current_thread().name)
        done.set()

    monkeypatch.setattr(images, "prepare_tail", prepare)
    read_image(SbomRequest(image=ref)).inventory("squashed")
    assert calls == []  # read in this process
    _in_workers(monkeypatch)
    read_image(SbomRequest(image=ref)).inventory("squashed")
    assert done.wait(10) and calls == ["prepare-tail"]  # once, in its own thread


def test_preparing_builds_the_licence_table_and_imports_the_encoders(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck import licenses
    from hullcheck.pipeline import images

    lic.spdx.cache_clear()
    licenses.licensing.cache_clear()
    licenses.spdx_ids.cache_clear()
    imported: list[str] = []
    monkeypatch.setattr(importlib, "import_module", imported.append)
    images.prepare_tail()
    assert licenses.licensing.cache_info().currsize == 1
    assert licenses.spdx_ids.cache_info().currsize == 1
    assert imported == ["hullcheck.sbom.cyclonedx", "hullcheck.sbom.spdx"]


def test_an_upper_layer_replacing_a_copyright_text_gives_its_licences_in_workers(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each layer's worker brings its own texts: the helper is given both versions of
    base-files' copyright, and the package gets the licences of the one a container sees."""
    mit = (
        "Copyright (c) 2024 Example\n\nPermission is hereby granted, free of charge, to any "
        "person obtaining a copy of this software and associated documentation files (the "
        "\"Software\"), to deal in the Software without restriction, including without "
        "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
        "and/or sell copies of the Software, and to permit persons to whom the Software is "
        "furnished to do so, subject to the following conditions:\n\nThe above copyright "
        "notice and this permission notice shall be included in all copies or substantial "
        "portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF "
        "ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF "
        "MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT "
        "SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER "
        "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF "
        "OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n")
    ref = write(build(layer("dpkg/bookworm"), OS, {"usr/share/doc/base-files/copyright": mit}),
                tmp_path / "img")
    expected = _classified_here(ref, monkeypatch)
    assert expected["base-files"][0] == ("MIT",)  # the upper layer's text
    here.clear()
    _in_workers(monkeypatch)
    found, ahead = _licences(ref)
    assert here == [] and found == expected
    assert ahead is not None and mit[:lic.MAX_DETECT] in ahead._given
    assert (DOC / "base-files" / "copyright").read_text()[:lic.MAX_DETECT] in ahead._given


@pytest.mark.parametrize("workers", [False, True])
def test_the_helper_ends_once_every_layer_is_read_and_its_texts_answered(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch, workers: bool) -> None:
    """No text can come once the layers are read: the helper answers those it has and ends
    then, before the catalogers run (its memory is not held beside theirs), and its answers
    are still the ones used."""
    ref = write(build(layer("dpkg/bookworm"), OS, {"srv/app": "x" * 1000}), tmp_path / "img")
    if workers:
        _in_workers(monkeypatch)
    read = read_image(SbomRequest(image=ref))
    assert read.ahead is not None and read.ahead._proc is not None
    assert read.ahead._proc.wait(timeout=30) == 0  # ended by itself, not killed
    given = len(read.ahead._given)
    read.ahead.give("Copyright 2024 a text that came too late\n")
    assert len(read.ahead._given) == given  # not given: classified here if ever asked
    inv = read.inventory("squashed")
    assert here == []
    assert {p.name for p in inv.packages if p.detected_licenses} >= {"base-files", "libc6"}


def test_a_warm_run_of_worker_read_layers_classifies_nothing_and_starts_no_helper(
        tmp_path: Path, here: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold, in workers: the texts go to the helper and its detections are kept by the
    texts' digests; warm, every layer comes from the cache: no worker ends, no helper starts,
    nothing is classified, the same licences."""
    from hullcheck.layercache import LayerCache
    from hullcheck.pipeline.images import layer_cache

    ref = write(build(layer("dpkg/bookworm"), OS, {"srv/app": "x" * 1000}), tmp_path / "img")
    _in_workers(monkeypatch)
    cache = LayerCache(tmp_path / "cache")
    with layer_cache(cache):
        cold, cold_ahead = _licences(ref)
    assert here == [] and cold_ahead is not None and cold_ahead._proc is not None
    with layer_cache(cache):
        warm, warm_ahead = _licences(ref)
    assert here == [] and warm == cold
    assert warm_ahead is not None and warm_ahead._proc is None
