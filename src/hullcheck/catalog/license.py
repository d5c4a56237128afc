"""Licences as catalogers find them → SPDX expressions where valid, the text otherwise.

One place for the catalogers' licence normalisation (``license-expression``'s SPDX
table): ``spdx("mit")`` is ``"MIT"``, ``normalise("Apache 2.0")`` is ``"Apache-2.0"``
(well-known names, ``licenses.alias``), unknown text is kept as text,
``expression_or_words`` reads the space-separated lists some package managers write.

``detect(text)`` finds the licences in licence text that declares none in a form a machine
reads (a Debian copyright file in free form): they are *detected*, with a confidence, not
declared (``model.DetectedLicense``).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import hashlib
import importlib.util
import json
import queue
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from hullcheck import __version__, deadline, licenses
from hullcheck.filetree import IndexStore

T = TypeVar("T")

MAX_TEXT = 1000  # a licence "name" longer than this is licence text: kept, cut to this
MAX_EXPRESSION = 10_000  # never hand the parser more than this


@functools.lru_cache(maxsize=1024)
def spdx(text: str) -> str | None:
    """``text`` as a normalised SPDX expression, or None when it is not one. Kept for the
    texts seen last: a few licences recur in every package of an image (the classifier's
    ids in every copyright text, ``MIT`` in every npm package), each parsed by the
    license-expression library (~0.1 ms)."""
    if not text or len(text) > MAX_EXPRESSION or not licenses.only_spdx_ids(text):
        return None
    info = licenses.validate(text)
    return None if info is None or info.errors else str(info.normalized_expression)


def normalise(text: str) -> str | None:
    """One declared licence: its SPDX expression, else the text (whitespace folded, cut to
    ``MAX_TEXT``); None when empty. A single pair of outer parentheses is dropped."""
    folded = " ".join(text.split())
    if not folded:
        return None
    if folded.startswith("(") and folded.endswith(")") and folded.count("(") == 1:
        folded = folded[1:-1].strip()
    return spdx(folded) or licenses.alias(folded) or folded[:MAX_TEXT]


def normalise_all(values: Iterable[object]) -> tuple[str, ...]:
    """Each string of ``values`` normalised; non-strings and empties skipped, order kept,
    duplicates dropped."""
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            one = normalise(value)
            if one is not None:
                out.append(one)
    return tuple(dict.fromkeys(out))


def expression_or_words(field: str) -> tuple[str, ...]:
    """A whole SPDX expression when ``field`` is one, else each space-separated word
    (apk's ``L:`` field: ``"MIT BSD"`` lists two licences)."""
    text = " ".join(field.split())
    if not text:
        return ()
    whole = spdx(text)
    if whole is not None:
        return (whole,)
    return tuple(dict.fromkeys(spdx(w) or w for w in text.split()))


# ---------------------------------------------------------------------------------------
# Detection from licence text
#
# licenseclassifier: a pure-Python port of Google's licensecheck (the classifier behind
# pkg.go.dev), with its templates of the SPDX licence texts *and* of the notices that point to
# them ("either version 2 of the License, or (at your option) any later version"); a licence
# is reported only where its whole template matched, and where the text sits. Measured on the
# 14 free-form copyright files of a debootstrap bookworm tree: 13 classified, ~8 ms a file,
# ~40 ms to load, 2 MB installed, no dependencies (BSD-3-Clause). Rejected: ScanCode's
# licensedcode (700 MB installed with its dependencies, 4 s to load its index, ~4 s a file
# here, and it did not import with current pluggy); askalono (pyaskalono: one best guess for
# a whole file, 170 ms a file, wrong on most notices: "Sleepycat" for glibc).

MAX_DETECT = 256 * 1024  # characters of one text classified (~0.15 s); the rest is not read


@dataclass(frozen=True, slots=True)
class Detection:
    """What ``detect`` found in one text."""

    ids: tuple[str, ...]  # distinct licences, sorted: SPDX ids, LicenseRef- for the others
    # Share of the text's non-blank characters inside recognised licence texts, 0-1: how much
    # of the file the licences named account for (a Debian copyright file also holds
    # copyright lines and prose).
    confidence: float


# Detections depend only on the text, so they are kept in the layer cache (``detections_in``)
# by the text's digest: a warm run, or any image whose copyright files were seen before,
# classifies nothing (~27% of a warm ``sbom``, ~40% of the small image's, bench/README.md).
_STORE: contextvars.ContextVar[IndexStore | None] = contextvars.ContextVar(
    "licence_store", default=None)
DETECTION_FORMAT = 1  # of a stored detection: a change here invalidates the old ones


@contextlib.contextmanager
def switched(var: contextvars.ContextVar[T], value: T) -> Iterator[None]:
    """``var`` is ``value`` in the block (in this context), and what it was after it."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def detections_in(store: IndexStore | None) -> contextlib.AbstractContextManager[None]:
    """``detect`` in the block takes its answers from ``store`` when it has them and keeps
    there the ones it computes (the layer cache; None: nothing kept)."""
    return switched(_STORE, store)


_READING: contextvars.ContextVar[bool] = contextvars.ContextVar("licences_read", default=True)


def unread() -> contextlib.AbstractContextManager[None]:
    """Licence texts in the block are not read: ``detect`` and ``remembered`` find nothing.
    For a caller that wants the package databases' files, not their licences (``hullcheck
    secrets``)."""
    return switched(_READING, False)


def detect(text: str) -> Detection:
    """The licences whose text or notice appears in ``text`` (its first ``MAX_DETECT``
    characters), from the store ``detections_in`` set when it holds them, else from the
    helper ``answers_from`` set when it was given the text, else classified here. Nothing
    found: no ids, confidence 0."""
    if not _READING.get():
        return Detection(ids=(), confidence=0.0)
    text = text[:MAX_DETECT]
    store = _STORE.get()
    if store is None:
        return _ahead_or_classify(text)
    key = _store_key(text)
    found = _decoded(store.get(key))
    if found is None:
        found = _ahead_or_classify(text)
        store.put(key, json.dumps({"ids": found.ids, "confidence": found.confidence}).encode(),
                  "licence detected in a text")
    return found


def remembered(kind: str, text: str, compute: Callable[[str], tuple[str, ...]]) -> tuple[
        str, ...]:
    """``compute(text)`` (licences read from a text, e.g. a DEP-5 file's declared ones), from
    the store ``detections_in`` set when it holds it for this ``kind`` of reading: a warm run
    neither parses the text again nor loads the SPDX licence table to check the names."""
    if not _READING.get():
        return ()
    store = _STORE.get()
    if store is None:
        return compute(text)
    key = _store_key(text, kind)
    found = _strings(store.get(key))
    if found is None:
        found = compute(text)
        store.put(key, json.dumps(found).encode(), f"licences read: {kind}")
    return found


def prepare() -> None:
    """Make what reading licences needs first (the SPDX licence table, the versions in the
    store's keys) before it is needed: a caller with an idle thread calls it."""
    spdx("MIT")  # the table of ids, and the parser's on its first parse
    _library_versions()


def _strings(data: bytes | None) -> tuple[str, ...] | None:
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _store_key(text: str, kind: str = "detection") -> str:
    """The store's key of what ``kind`` of reading found in ``text``: the text's digest, the
    licence libraries' and hullcheck's versions (a new version of any computes new answers;
    the old age out)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return (f"licence-{kind} {DETECTION_FORMAT} sha256:{digest} {MAX_DETECT} "
            f"{_library_versions()} {__version__}")


@functools.cache
def _library_versions() -> str:
    return " ".join(f"{name} {_version(name, module)}" for name, module in (
        ("licenseclassifier", "licenseclassifier"), ("license-expression", "license_expression")))


def _version(name: str, module: str) -> str:
    """The installed version of distribution ``name``: from its ``NAME-VERSION.dist-info``
    beside ``module`` (found, not imported), else ``importlib.metadata`` (~25 ms to import
    and to search every path entry: a tenth of a warm ``sbom``, bench/README.md)."""
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin:
        site = Path(spec.origin).parent.parent
        stem = name.replace("-", "_")
        found = [p.name[len(stem) + 1:-len(".dist-info")]
                 for p in site.glob(f"{stem}-*.dist-info")]
        if len(found) == 1:
            return found[0]
    from importlib import metadata  # an install without a dist-info directory beside it

    return metadata.version(name)


def _decoded(data: bytes | None) -> Detection | None:
    """A stored detection; None when missing or not one (classified again, and rewritten)."""
    if data is None:
        return None
    try:
        value = json.loads(data)
        ids, confidence = value["ids"], value["confidence"]
    except (ValueError, TypeError, KeyError):
        return None
    if (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
            or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1):
        return None
    return Detection(ids=tuple(ids), confidence=float(confidence))


def classify(text: str) -> Detection:
    """``detect`` without the store: the classifier itself (``text`` already cut)."""
    from licenseclassifier import identify_license  # its ~40 ms load only when used

    _faster_words()

    # Threshold 0: every recognised region counts; the coverage is reported as the confidence
    # rather than used to drop a file that also holds copyright lines.
    found = identify_license(text, coverage_threshold=THRESHOLD)
    return _detection(text, [(m.id, m.start, m.end) for m in found])


THRESHOLD = 0.0


@functools.cache
def _faster_words() -> None:
    """The classifier splits words with ``license_words.split`` (the same words, ~2.5x
    faster: a third of its time on copyright texts was splitting them into words)."""
    with contextlib.suppress(ImportError, AttributeError):
        from hullcheck.catalog import license_words  # imports the classifier: when used

        license_words.builtin_scanner()
Region = tuple[str, int, int]  # a licence the classifier recognised: its id, start, end


def _detection(text: str, found: list[Region]) -> Detection:
    """What the classifier's ``found`` regions of ``text`` say: the licences, the coverage."""
    if not found:
        return Detection(ids=(), confidence=0.0)
    total = _non_blank(text)
    covered = sum(_non_blank(text[start:end]) for _, start, end in found)
    ids = sorted({_spdx_or_ref(ident) for ident, _, _ in found})
    return Detection(ids=tuple(ids), confidence=round(min(1.0, covered / max(total, 1)), 2))


def _non_blank(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \t\n\r\f\v")


def _spdx_or_ref(ident: str) -> str:
    """A classifier id as the SPDX id license-expression knows, else a LicenseRef- id (newer
    SPDX ids, and licensecheck's own such as ``CommonsClause``): valid in any SPDX document."""
    return spdx(ident) or licenses.license_ref(ident)


# ---------------------------------------------------------------------------------------
# Classifying ahead, in a helper process
#
# The classifier is pure Python: a bookworm base's ten free-form copyright texts take it
# ~0.25 CPU-s, its load included, which is a quarter of a cold ``sbom`` of that image. Texts
# seen while a layer is read in this process (``catalog.dpkg.CopyrightsAhead``, a sink
# ``filetree.analysis.watching`` shows the files to) go to one helper process, which
# classifies them on another core while the layer is still read; ``detect`` takes its
# answer. The helper runs what ``classify`` runs (``identify_license``, threshold 0, the
# very package this process imports), and its regions become a ``Detection`` here, so the
# answers are the same; when it cannot start, fails or answers nonsense, the text is
# classified here. A spawned interpreter, not a fork: texts arrive while the layer's reader
# threads run, and it imports the classifier alone (~20 ms to start).

MAX_AHEAD = 16 * 1024 * 1024  # characters handed to one helper; the rest classified here
_HELPER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from licenseclassifier import identify_license
import json
try:  # templates loaded, faster word splitting installed, while the first text is on its way
    import importlib.util
    spec = importlib.util.spec_from_file_location("hullcheck_license_words", sys.argv[3])
    words = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(words)
    words.builtin_scanner()
except Exception:
    pass
source, out = sys.stdin.buffer, sys.stdout
while len(head := source.read(4)) == 4:
    text = source.read(int.from_bytes(head, "big")).decode("utf-8")
    found = identify_license(text, coverage_threshold=float(sys.argv[2]))
    out.write(json.dumps([[m.id, m.start, m.end] for m in found]) + "\n")
    out.flush()
"""

_AHEAD: contextvars.ContextVar[Ahead | None] = contextvars.ContextVar(
    "licence_ahead", default=None)


class Ahead:
    """Texts classified ahead of ``detect``, in order, by one helper process started on the
    first (``give``); ``answer`` waits for a text's regions. ``close`` (or dropping the
    object) ends the helper."""

    def __init__(self, budget: int = MAX_AHEAD) -> None:
        self.budget = budget
        self._failed = False  # the helper could not start
        self._finished = False  # no more texts will come (``finish``)
        self._ended = threading.Event()  # it gives no more answers (ended, or nonsense)
        self._lock = threading.Lock()
        self._given: dict[str, Future[list[Region]]] = {}
        self._texts: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._waiting: collections.deque[Future[list[Region]]] = collections.deque()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop: weakref.finalize[Any, Any] | None = None

    @property
    def failed(self) -> bool:
        """The helper could not start, or gives no more answers."""
        return self._failed or self._ended.is_set()

    def give(self, text: str) -> None:
        """Have ``text`` (already cut to ``MAX_DETECT``) classified ahead; thread-safe (the
        layer reader threads call it)."""
        with self._lock:
            if (text in self._given or len(text) > self.budget or self.failed
                    or self._finished):
                return
            if self._proc is None and not self._start():
                return
            self.budget -= len(text)
            future: Future[list[Region]] = Future()
            self._given[text] = future
            self._waiting.append(future)
            self._texts.put(text.encode("utf-8", "surrogatepass"))

    def prepare(self) -> None:
        """Start the helper now (it loads the classifier's templates, ~60 ms of CPU) when
        texts are about to come."""
        with self._lock:
            if self._proc is None and not self.failed and not self._finished:
                self._start()

    def answer(self, text: str) -> list[Region] | None:
        """The regions the helper found in ``text``, once it has classified it; None when it
        was not given the text or failed (``detect`` classifies it here)."""
        future = self._given.get(text)
        if future is None:
            return None
        try:
            return future.result(timeout=deadline.remaining())
        except TimeoutError:
            deadline.check("detecting licences in Debian copyright files")
            return None
        except HelperFailed:
            return None

    def finish(self) -> None:
        """No more texts will be given: the helper ends by itself once it has answered those
        it was given (its memory freed before the catalogers' peak, rather than at ``close``)."""
        with self._lock:
            self._finished = True
            if self._proc is not None:
                self._texts.put(None)  # the feeder closes its input after the last text

    def close(self) -> None:
        if self._stop is not None:
            self._stop()

    def _start(self) -> bool:
        """The helper process and the threads that feed it and read its answers (the lock
        held); False, and ``failed``, when it cannot start."""
        spec = importlib.util.find_spec("licenseclassifier")
        if spec is None or not spec.submodule_search_locations:
            self._failed = True
            return False
        where = str(Path(next(iter(spec.submodule_search_locations))).parent)
        try:
            # -I: neither the working directory nor PYTHON* variables choose what it imports;
            # -S: nor site-packages (its .pth files run code at start): the path of this
            # process's classifier is handed to it.
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _HELPER, where,
                                     str(THRESHOLD),
                                     str(Path(__file__).with_name("license_words.py"))],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
        except OSError:
            self._failed = True
            return False
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        threading.Thread(target=_feed, args=(self._texts, proc.stdin), daemon=True,
                         name="licence-feed").start()
        threading.Thread(target=_read_answers, args=(proc.stdout, self._waiting, self._ended, self._lock),
                         daemon=True, name="licence-answers").start()
        self._stop = weakref.finalize(self, _end, self._texts, proc)
        return True


class HelperFailed(Exception):
    """The helper ended or answered what is not a list of regions."""


def _feed(texts: queue.SimpleQueue[bytes | None], pipe: IO[bytes]) -> None:
    """Write each text to the helper, length first, until ``None``; then close its input
    (it ends once it has answered the texts it was given)."""
    with contextlib.suppress(OSError), pipe:
        while (data := texts.get()) is not None:
            pipe.write(len(data).to_bytes(4, "big") + data)
            pipe.flush()


def _read_answers(pipe: IO[bytes], waiting: collections.deque[Future[list[Region]]],
                  ended: threading.Event, lock: threading.Lock) -> None:
    """Each line the helper writes answers the oldest text waiting; at its end (or at a line
    that is not a list of regions) every text still waiting fails."""
    try:
        for line in pipe:
            regions = _regions(line)
            if regions is None or not waiting:
                break
            waiting.popleft().set_result(regions)
    except OSError:
        pass
    finally:
        with lock:  # ``give`` adds no text once it has ended
            ended.set()  # no more answers: later texts are classified here
            while waiting:
                waiting.popleft().set_exception(HelperFailed())
        pipe.close()


def _regions(line: bytes) -> list[Region] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    out: list[Region] = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str)
                or not all(type(x) is int for x in item[1:])):
            return None
        out.append((item[0], item[1], item[2]))
    return out


def _end(texts: queue.SimpleQueue[bytes | None], proc: subprocess.Popen[bytes]) -> None:
    """Stop the helper: no more texts; it is killed rather than waited for if it still
    works (a text no one will ask about), then reaped."""
    texts.put(None)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def answers_from(ahead: Ahead | None) -> contextlib.AbstractContextManager[None]:
    """``detect`` in the block takes the helper's answer for each text ``ahead`` was given."""
    return switched(_AHEAD, ahead)


def _ahead_or_classify(text: str) -> Detection:
    ahead = _AHEAD.get()
    found = ahead.answer(text) if ahead is not None else None
    return _detection(text, found) if found is not None else classify(text)
