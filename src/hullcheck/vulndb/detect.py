"""What kind of advisory data a local path holds, so ``db import PATH`` needs no --kind.

A directory may mix kinds (OSV records beside an Alpine secdb, a KEV catalog, a Debian
tracker export): ``detect_tree`` says each file's kind, and which files it could not place.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hullcheck import untrusted
from hullcheck.errors import FormatError
from hullcheck.vulndb.build import SourceKind
from hullcheck.vulndb.bundle import MANIFEST

BUNDLE = "bundle"
_SNIFF = 1 << 20
# Files of a directory that may hold advisories; the rest (README, LICENSE...) are not read.
DATA_SUFFIXES = (".json", ".yaml", ".yml", ".xml", ".xml.gz", ".zip", ".tar.gz", ".tgz")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    """A directory's advisory files by kind, and the data files that are none (each an
    error saying why: a format hullcheck does not read, a bundle inside a folder...)."""

    kinds: dict[SourceKind, tuple[Path, ...]]
    skipped: tuple[FormatError, ...] = ()


def detect_tree(root: Path) -> Tree:
    """Each data file's kind under ``root`` (sorted; hidden folders such as .git and
    symbolic links are not followed)."""
    kinds: dict[SourceKind, list[Path]] = {}
    skipped: list[FormatError] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.is_symlink() or not name.lower().endswith(
                    DATA_SUFFIXES):
                continue
            try:
                kind = detect(path)
            except FormatError as exc:
                skipped.append(exc)
                continue
            if kind == BUNDLE:
                skipped.append(FormatError(f"{path}: a database bundle, imported on its own"))
                continue
            kinds.setdefault(SourceKind(kind), []).append(path)
    return Tree(kinds={k: tuple(v) for k, v in kinds.items()}, skipped=tuple(skipped))


def detect(path: Path) -> SourceKind | str:
    """A ``SourceKind``, or ``BUNDLE`` for a database bundle made by ``db export``."""
    if path.is_dir():
        return SourceKind.OSV
    if not path.is_file():
        raise FormatError(f"{path}: no such file or directory")
    name = path.name.lower()
    if name.endswith((".tar.zst", ".tzst")):
        return BUNDLE
    if zipfile.is_zipfile(path):
        return SourceKind.OSV
    if name.endswith((".xml", ".xml.gz")):
        return SourceKind.ALAS  # yum updateinfo: the one XML format advisories come in
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(path) as tf:
                first = tf.next()
        except (tarfile.TarError, OSError) as exc:
            raise FormatError(f"{path}: not a readable archive ({exc})") from None
        return BUNDLE if first is not None and first.name == MANIFEST else SourceKind.OSV
    with path.open("rb") as f:
        head = f.read(_SNIFF)
    text = head.lstrip()
    if name.endswith((".yaml", ".yml")):
        return SourceKind.ALPINE if b"secfixes" in head else SourceKind.OSV
    if text.startswith(b"["):
        raise FormatError(f"{path}: a JSON list, not advisory data hullcheck reads (an index?)",
                          hint="pass --kind " + "|".join(k.value for k in SourceKind))
    if not text.startswith(b"{"):
        raise FormatError(f"{path}: not advisory data (expected JSON, YAML, a zip or a tarball)")
    if b'"catalogVersion"' in head and b'"vulnerabilities"' in head:
        return SourceKind.KEV
    if b'"secfixes"' in head and b'"distroversion"' not in head:
        # Wolfi's and Chainguard's secdb: one release-less file, named by where it lives.
        if b"packages.wolfi.dev" in head or re.search(rb'"reponame"\s*:\s*"os"', head):
            return SourceKind.WOLFI
        if b"cgr.dev" in head or re.search(rb'"reponame"\s*:\s*"chainguard"', head):
            return SourceKind.CHAINGUARD
    if b'"distroversion"' in head or b'"secfixes"' in head:
        return SourceKind.ALPINE
    if b'"affected"' in head or b'"schema_version"' in head or b'"modified"' in head:
        return SourceKind.OSV
    try:
        doc = untrusted.json_document(head, what=str(path)) if len(head) < _SNIFF else None
    except FormatError:
        doc = None  # the Debian reader says what is wrong with it
    if doc is None or (isinstance(doc, dict) and all(
        isinstance(v, dict) and any(str(k).startswith(("CVE-", "TEMP-")) for k in v)
        for v in list(doc.values())[:5]
    )):
        return SourceKind.DEBIAN
    raise FormatError(f"{path}: cannot tell what advisory format this is",
                      hint="pass --kind " + "|".join(k.value for k in SourceKind))
