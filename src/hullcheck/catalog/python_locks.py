"""Python packages declared, not installed: ``poetry.lock`` (``python-poetry-lock``),
``Pipfile.lock`` (``python-pipfile-lock``) and pinned ``*requirements*.txt`` and ``requirements/*.txt``
(``python-requirements``).

Every package here carries ``declared=true`` in extras: it is what a build *would*
install (``python-installed`` reports what *is*). Development groups are marked
``dev=true``; environment markers (``; python_version < "3.9"``) are kept as the
``markers`` extra, since whether they apply depends on the interpreter.

requirements files: only exact pins (``name==1.2.3``, ``name===1.2.3``) are packages;
ranges, unpinned names, ``-r``/``-c`` includes, ``-e``/URL requirements and options are
skipped, ``--hash`` options and comments are ignored, ``\\`` continuations joined. Files
inside an installed package's folder (``site-packages/foo/requirements.txt``) are that
package's business, not the image's, and are skipped.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from hullcheck.catalog import python
from hullcheck.catalog.base import Env, check_found, unknown
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Package, Unknown

POETRY = "python-poetry-lock"
PIPFILE = "python-pipfile-lock"
REQUIREMENTS = "python-requirements"
MAX_PACKAGES = 100_000
MAX_TEXT = 8 << 20  # a lock or requirements file over 8 MiB is not a real one
MAX_LINE = 10_000
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?\Z")
_VERSION = re.compile(r"[0-9A-Za-z!+._-]{1,100}\Z")
_INSTALLED = re.compile(r"/(?:site|dist)-packages/")


def _package(name: str, version: str, found_by: str, evidence: str,
             extras: list[tuple[str, str]]) -> Package:
    return python.package(name, version, found_by, evidence, [("declared", "true"), *extras])


def _text(entry: FileEntry, what: str) -> str:
    data = entry.content or b""
    if len(data) > MAX_TEXT:
        raise FormatError(f"{entry.path}: {what} of {len(data)} bytes is over {MAX_TEXT}")
    if b"\0" in data[:8192]:
        raise FormatError(f"{entry.path}: binary data in {what}")
    return data.decode("utf-8-sig", errors="replace")


def _check(found: list[Package | Unknown], path: str) -> list[Package | Unknown]:
    return check_found(found, path, limit=MAX_PACKAGES)


# ---------------------------------------------------------------------------------------
# poetry.lock


def parse_poetry(text: str, path: str) -> list[Package | Unknown]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"{path}: poetry.lock is not valid TOML ({exc})") from None
    except RecursionError:
        raise FormatError(f"{path}: poetry.lock is nested too deeply") from None
    packages = doc.get("package", [])
    if not isinstance(packages, list):
        raise FormatError(f"{path}: [[package]] is not an array of tables")
    meta = doc.get("metadata")
    lock_version = meta.get("lock-version") if isinstance(meta, Mapping) else None
    out: list[Package | Unknown] = []
    for i, item in enumerate(packages):
        if not isinstance(item, Mapping):
            out.append(unknown(POETRY, f"package {i} is not a table"))
            continue
        name, version = item.get("name"), item.get("version")
        if not isinstance(name, str) or not isinstance(version, str) \
                or not _NAME.match(name) or not _VERSION.match(version):
            out.append(unknown(POETRY, f"package {i}: no readable name or version"))
            continue
        extras: list[tuple[str, str]] = []
        if isinstance(lock_version, str):
            extras.append(("lock-version", lock_version[:20]))
        if item.get("category") == "dev":  # poetry < 1.2; later locks drop the category
            extras.append(("dev", "true"))
        if item.get("optional") is True:
            extras.append(("optional", "true"))
        source = item.get("source")
        if isinstance(source, Mapping):  # git, directory, file, url or a private index
            for key in ("type", "url", "reference", "resolved_reference"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    extras.append((f"source-{key}", value[:1000]))
        markers = item.get("markers")
        if isinstance(markers, str) and markers:
            extras.append(("markers", markers[:1000]))
        out.append(_package(name, version, POETRY, path, extras))
    return out


class PoetryLockCataloger:
    """``python-poetry-lock``: packages a poetry.lock declares."""

    name = POETRY
    globs = ("/**/poetry.lock",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if _INSTALLED.search(entry.path):
            return ()
        return _check(parse_poetry(_text(entry, "poetry.lock"), entry.path), entry.path)


# ---------------------------------------------------------------------------------------
# Pipfile.lock


def parse_pipfile_lock(text: str, path: str) -> list[Package | Unknown]:
    try:
        doc: Any = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"{path}: Pipfile.lock is not valid JSON ({exc})") from None
    except RecursionError:
        raise FormatError(f"{path}: Pipfile.lock is nested too deeply") from None
    if not isinstance(doc, Mapping):
        raise FormatError(f"{path}: Pipfile.lock is not a JSON object")
    out: list[Package | Unknown] = []
    for group in ("default", "develop"):
        section = doc.get(group, {})
        if not isinstance(section, Mapping):
            raise FormatError(f"{path}: {group} is not an object")
        for name, item in section.items():
            if not isinstance(item, Mapping):
                out.append(unknown(PIPFILE, f"{group}[{name[:80]!r}] is not an object"))
                continue
            pin = item.get("version")
            if pin is None:
                continue  # git, path and file requirements carry no version
            if not isinstance(pin, str) or not pin.startswith("==") or not _NAME.match(name) \
                    or not _VERSION.match(pin.lstrip("=")):
                out.append(unknown(PIPFILE, f"{group}[{name[:80]!r}]: unreadable version"))
                continue
            extras = [("dev", "true")] if group == "develop" else []
            for key in ("markers", "index"):
                value = item.get(key)
                if isinstance(value, str) and value:
                    extras.append((key, value[:1000]))
            out.append(_package(name, pin.lstrip("="), PIPFILE, path, extras))
    return out


class PipfileLockCataloger:
    """``python-pipfile-lock``: packages a Pipfile.lock (pipenv) declares."""

    name = PIPFILE
    globs = ("/**/Pipfile.lock",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if _INSTALLED.search(entry.path):
            return ()
        return _check(parse_pipfile_lock(_text(entry, "Pipfile.lock"), entry.path), entry.path)


# ---------------------------------------------------------------------------------------
# requirements*.txt


def logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first line number, line) with ``\\`` continuations joined and comments removed."""
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        line = raw.rstrip("\r")
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(buf)
        buf = []
        # pip: a comment starts at "#" at the line start or after whitespace.
        joined = re.sub(r"(^|\s)#.*", "", joined).strip()
        if joined:
            yield start, joined
    if buf:
        joined = re.sub(r"(^|\s)#.*", "", " ".join(buf)).strip()
        if joined:
            yield start, joined


def parse_requirements(text: str, path: str) -> list[Package | Unknown]:
    # packaging's parser costs ~13 ms to import; only images with requirements files pay it.
    from packaging.requirements import InvalidRequirement, Requirement

    out: list[Package | Unknown] = []
    for number, line in logical_lines(text):
        if line.startswith("-"):
            continue  # -r/-c includes, -e editables, --index-url and other options
        requirement = re.split(r"\s--?[A-Za-z]", f" {line}", maxsplit=1)[0].strip()
        if len(requirement) > MAX_LINE:
            out.append(unknown(REQUIREMENTS, f"line {number}: over {MAX_LINE} characters"))
            continue
        try:
            req = Requirement(requirement)
        except InvalidRequirement as exc:
            if "://" in requirement or requirement.startswith((".", "/")):
                continue  # a URL or a local path, not a named requirement
            reason = " ".join(str(exc).split())[:200]
            out.append(unknown(REQUIREMENTS, f"line {number}: not a requirement ({reason})"))
            continue
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator not in ("==", "===") \
                or "*" in specs[0].version:
            continue  # a range, a wildcard, a URL or no version: not a pin
        extras = []
        if req.marker is not None:
            extras.append(("markers", str(req.marker)[:1000]))
        if req.extras:
            extras.append(("extras", ",".join(sorted(req.extras))))
        out.append(_package(req.name, specs[0].version, REQUIREMENTS, path, extras))
    return out


class RequirementsCataloger:
    """``python-requirements``: exact pins of pip requirements files."""

    name = REQUIREMENTS
    globs = ("/**/*requirements*.txt", "/**/requirements/*.txt")
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if _INSTALLED.search(entry.path) or ".dist-info/" in entry.path \
                or ".egg-info/" in entry.path:
            return ()
        return _check(parse_requirements(_text(entry, "requirements file"), entry.path),
                      entry.path)
