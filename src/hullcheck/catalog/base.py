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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from hullcheck.filetree import FileEntry, View
from hullcheck.model import Distro, Package, Unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Env:
    """Facts every cataloger may use: the distro (from os-release) of the image."""

    distro: Distro | None = None


class Cataloger(Protocol):
    name: str
    globs: tuple[str, ...]
    needs: tuple[str, ...]

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]: ...


def text_of(entry: FileEntry, *, encoding: str = "utf-8") -> str:
    """The evidence file as text; replacement characters instead of a crash on bad bytes."""
    return (entry.content or b"").decode(encoding, errors="replace")
