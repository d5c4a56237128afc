"""What a cataloger is: a name, the files it needs, and a parser.

A cataloger never opens an image. It declares absolute-path globs up front so the
file tree can keep just those files' bytes while it reads each layer once:

* ``globs`` — the evidence files. ``parse`` is called once for *every version* of
  every matching file (each layer that wrote it), so packages that a later layer
  hid are still found.
* ``needs`` — supporting files ``parse`` reads through the view (e.g. dpkg's
  ``info/*.list`` or ``/usr/share/doc/*/copyright``).

``parse`` returns packages whose first location is the evidence file; the runner
sets the layer that brought each package and whether it is still visible. A parser
raises ``FormatError`` (or ``ValueError``/``UnicodeDecodeError``) for unreadable
evidence; the runner records an ``Unknown`` and goes on. A parser that can read some
records of a file but not others yields an ``Unknown`` (location left empty; the runner
fills it in) for each bad record beside the packages it could read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hullcheck.catalog.elf import Data
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Distro, Location, Package, Unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Env:
    """Facts every cataloger may use: the distro (from os-release) of the image, and the
    sha256 of files whose bytes streamed by without being kept ((layer, path) -> urlsafe
    base64, as Python's RECORD writes it), when the pipeline computed them."""

    distro: Distro | None = None
    digests: Mapping[tuple[int, str], str] = field(default_factory=dict)


class Cataloger(Protocol):
    # Read-only members: a cataloger's class constants (``globs = ("/**/poetry.lock",)``, a
    # ``tuple[str]``) satisfy them; nothing assigns them through the protocol.
    @property
    def name(self) -> str: ...
    @property
    def globs(self) -> tuple[str, ...]: ...
    @property
    def needs(self) -> tuple[str, ...]: ...

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]: ...


@runtime_checkable
class BinaryCataloger(Cataloger, Protocol):
    """A cataloger of executables, which also reads those outside its globs anywhere in the
    image as they stream by (``catalog.streaming.BinarySink``): registering it in
    ``registry.CATALOGERS`` is enough."""

    # (ELF section name, what it holds) whose presence in a large shared library that is
    # not read shows this cataloger would have found something there.
    @property
    def sections(self) -> tuple[tuple[str, str], ...]: ...

    def parse_binary(self, data: Data, path: str) -> list[Package]:
        """The packages of the executable ``data`` (bytes, or a map of its spooled copy)
        found at ``path``; [] when it has none of this cataloger's evidence."""
        ...


def load_json(entry: FileEntry, what: str) -> Any:
    """A JSON document; FormatError for anything unreadable or nested too deeply."""
    try:
        return json.loads((entry.content or b"").decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"{entry.path}: {what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise FormatError(f"{entry.path}: {what} is nested too deeply") from None


def load_json_object(entry: FileEntry, what: str) -> dict[str, Any]:
    """``load_json``, and FormatError unless the document is an object."""
    doc = load_json(entry, what)
    if not isinstance(doc, dict):
        raise FormatError(f"{entry.path}: {what} is not a JSON object")
    return doc


def unknown(found_by: str, reason: str) -> Unknown:
    """An unreadable record of the evidence file (the runner fills in the location)."""
    return Unknown(location=Location(path=""), cataloger=found_by, reason=reason)


def check_found(found: list[Package | Unknown], path: str, *, limit: int | None = None,
                what: str = "package") -> list[Package | Unknown]:
    """What one evidence file gave, unless it is over ``limit`` records or has no readable
    ``what`` among its records: then the whole file is unreadable (FormatError)."""
    if limit is not None and len(found) > limit:
        raise FormatError(f"{path}: over {limit} packages")
    if found and all(isinstance(x, Unknown) for x in found):
        first = found[0]
        assert isinstance(first, Unknown)
        raise FormatError(f"{path}: no readable {what} ({first.reason})")
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class BadStanza:
    """A stanza of a package database (dpkg status, apk installed) that could not be read."""

    line: int  # 1-based line where it starts
    reason: str


def with_bad_stanzas(found: list[Package | Unknown], bad: list[BadStanza], path: str,
                     found_by: str) -> list[Package | Unknown]:
    """A database's packages and an Unknown for each stanza that could not be read (where
    it starts and why); FormatError when no stanza could be read."""
    unknowns = [unknown(found_by, f"stanza at line {b.line} skipped: {b.reason}") for b in bad]
    return check_found([*found, *unknowns], path, what="stanza")
