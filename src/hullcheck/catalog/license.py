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

import contextlib
import contextvars
import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hullcheck import __version__, licenses
from hullcheck.filetree import IndexStore

MAX_TEXT = 1000  # a licence "name" longer than this is licence text: kept, cut to this
MAX_EXPRESSION = 10_000  # never hand the parser more than this


def spdx(text: str) -> str | None:
    """``text`` as a normalised SPDX expression, or None when it is not one."""
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
def detections_in(store: IndexStore | None) -> Iterator[None]:
    """``detect`` in the block takes its answers from ``store`` when it has them and keeps
    there the ones it computes (the layer cache; None: nothing kept)."""
    token = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(token)


_READING: contextvars.ContextVar[bool] = contextvars.ContextVar("licences_read", default=True)


@contextlib.contextmanager
def unread() -> Iterator[None]:
    """Licence texts in the block are not read: ``detect`` and ``remembered`` find nothing.
    For a caller that wants the package databases' files, not their licences (``hullcheck
    secrets``)."""
    token = _READING.set(False)
    try:
        yield
    finally:
        _READING.reset(token)


def detect(text: str) -> Detection:
    """The licences whose text or notice appears in ``text`` (its first ``MAX_DETECT``
    characters), from the store ``detections_in`` set when it holds them. Nothing found: no
    ids, confidence 0."""
    if not _READING.get():
        return Detection(ids=(), confidence=0.0)
    text = text[:MAX_DETECT]
    store = _STORE.get()
    if store is None:
        return classify(text)
    key = _store_key(text)
    found = _decoded(store.get(key))
    if found is None:
        found = classify(text)
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

    # Threshold 0: every recognised region counts; the coverage is reported as the confidence
    # rather than used to drop a file that also holds copyright lines.
    found = identify_license(text, coverage_threshold=0.0)
    if not found:
        return Detection(ids=(), confidence=0.0)
    total = _non_blank(text)
    covered = sum(_non_blank(text[m.start:m.end]) for m in found)
    ids = sorted({_spdx_or_ref(m.id) for m in found})
    return Detection(ids=tuple(ids), confidence=round(min(1.0, covered / max(total, 1)), 2))


def _non_blank(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \t\n\r\f\v")


def _spdx_or_ref(ident: str) -> str:
    """A classifier id as the SPDX id license-expression knows, else a LicenseRef- id (newer
    SPDX ids, and licensecheck's own such as ``CommonsClause``): valid in any SPDX document."""
    return spdx(ident) or licenses.license_ref(ident)
