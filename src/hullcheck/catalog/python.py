"""Installed Python distributions (``python-installed``).

Evidence: core metadata anywhere in the image — ``*.dist-info/METADATA`` (wheels, pip),
``*.egg-info/PKG-INFO`` (setuptools directories) and ``*.egg-info`` files (distutils),
so system site-packages, virtual environments and ``pip --target`` folders are all
found. Owned files come from the ``RECORD`` next to METADATA (or an egg's
``installed-files.txt``), whose paths are relative to the directory holding the
metadata directory.
"""

from __future__ import annotations

import csv
import functools
import posixpath
import re
from collections.abc import Iterable
from email.message import Message
from email.parser import HeaderParser

from license_expression import Licensing, get_spdx_licensing
from packageurl import PackageURL

from hullcheck.catalog.base import Env
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

NAME = "python-installed"
MAX_SHORT_LICENSE = 100  # a License field longer than this is licence text, not a name

# Trove classifiers whose meaning is exact; the vaguer ones ("BSD License", "Apache
# Software License") are kept as the classifier's words rather than guessed.
CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "ISC License (ISCL)": "ISC",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Python Software Foundation License": "PSF-2.0",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Apache Software License 2.0 (Apache-2.0)": "Apache-2.0",
}
_UNKNOWN = {"", "unknown", "none", "n/a", "other", "other/proprietary license"}


@functools.cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _spdx(text: str) -> str | None:
    try:
        info = _licensing().validate(text)
    except Exception:  # license-expression raises assorted errors on odd input
        return None
    return None if info.errors else str(info.normalized_expression)


def normalise_name(name: str) -> str:
    """PEP 503: runs of ``-``, ``_`` and ``.`` become ``-``, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def licenses_of(meta: Message) -> tuple[str, ...]:
    """PEP 639 ``License-Expression``, else a short ``License``, else the classifiers."""
    expression = " ".join((meta.get("License-Expression") or "").split())
    if expression:
        return (_spdx(expression) or expression,)
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= MAX_SHORT_LICENSE \
            and field.lower() not in _UNKNOWN:
        return (_spdx(field) or field,)
    found: list[str] = []
    for classifier in meta.get_all("Classifier") or ():
        parts = [p.strip() for p in str(classifier).split("::")]
        if len(parts) < 2 or parts[0] != "License":
            continue
        leaf = parts[-1]
        if leaf.lower() in _UNKNOWN or leaf == "OSI Approved":
            continue
        found.append(CLASSIFIERS.get(leaf, leaf))
    return tuple(dict.fromkeys(found))


def _record_files(data: bytes, base: str) -> tuple[str, ...]:
    out: list[str] = []
    text = data.decode("utf-8", errors="replace")
    for row in csv.reader(text.splitlines()):
        if not row or not row[0].strip():
            continue
        out.append(_absolute(row[0].strip(), base))
    return tuple(dict.fromkeys(out))


def _lines_files(data: bytes, base: str) -> tuple[str, ...]:
    lines = data.decode("utf-8", errors="replace").splitlines()
    return tuple(dict.fromkeys(_absolute(x.strip(), base) for x in lines if x.strip()))


def _absolute(path: str, base: str) -> str:
    joined = path if path.startswith("/") else posixpath.join(base, path)
    normal = posixpath.normpath(joined)
    return "/" + normal.lstrip("/")  # ".." stops at the image root


def owned_files(metadata_path: str, view: View) -> tuple[str, ...]:
    meta_dir = posixpath.dirname(metadata_path)
    site = posixpath.dirname(meta_dir)
    if meta_dir.endswith(".dist-info"):
        data = view.read(f"{meta_dir}/RECORD")
        return _record_files(data, site) if data is not None else ()
    if meta_dir.endswith(".egg-info"):
        data = view.read(f"{meta_dir}/installed-files.txt")
        return _lines_files(data, meta_dir) if data is not None else ()
    return ()


def package_of(text: str, path: str, view: View) -> Package:
    meta = HeaderParser().parsestr(text)
    name = " ".join((meta.get("Name") or "").split())
    version = " ".join((meta.get("Version") or "").split())
    if not name or not version:
        raise FormatError(f"{path}: no {'Name' if not name else 'Version'} in core metadata")
    if len(name) > 200 or len(version) > 200:
        raise FormatError(f"{path}: implausibly long Name or Version")
    extras = [
        (key, " ".join(str(meta.get(field)).split())[:1000])
        for key, field in (("summary", "Summary"), ("author", "Author"),
                           ("author-email", "Author-email"), ("home-page", "Home-page"),
                           ("metadata-version", "Metadata-Version"))
        if meta.get(field) and str(meta.get(field)).strip() not in ("", "UNKNOWN")
    ]
    extras.append(("site", posixpath.dirname(posixpath.dirname(path))
                   if not path.endswith(".egg-info") else posixpath.dirname(path)))
    return Package(
        type=PackageType.PYTHON,
        name=name,
        version=version,
        purl=PackageURL(type="pypi", name=normalise_name(name), version=version).to_string(),
        found_by=NAME,
        locations=(Location(path=path),),
        licenses=licenses_of(meta),
        files=owned_files(path, view),
        extras=tuple(sorted(extras)),
    )


class PythonInstalledCataloger:
    """``python-installed``: distributions installed anywhere (site-packages, venvs...)."""

    name = NAME
    globs = ("/**/*.dist-info/METADATA", "/**/*.egg-info/PKG-INFO", "/**/*.egg-info")
    needs = ("/**/*.dist-info/RECORD", "/**/*.egg-info/installed-files.txt")

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        data = entry.content or b""
        if b"\0" in data[:8192]:
            raise FormatError(f"{entry.path}: binary data in Python core metadata")
        return (package_of(data.decode("utf-8", errors="replace"), entry.path, view),)
