"""Reading record files out of a directory, a ``.zip`` or a ``.tar[.gz|.zst]``, safely.

Nothing is extracted to disk: members are read into memory one at a time, each capped
at ``Limits.max_member`` bytes, the whole archive at ``Limits.max_total``. A member
that is too large becomes a per-member error; a member name that escapes the root
(``../x``, ``/etc/x``), a link, or an archive that inflates past its limits is hostile
and raises ``FormatError`` for the whole archive.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import zstandard

from hullcheck.errors import FormatError

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_member: int = 16 * MiB  # one record file
    max_total: int = 8 * 1024 * MiB  # everything read from one archive
    max_ratio: int = 1000  # uncompressed/compressed for a zip member bigger than 1 MiB


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    name: str  # path inside the tree or archive
    data: bytes | None  # None when ``error`` is set
    error: str = ""


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"))


def safe_name(name: str, archive: Path) -> str:
    """The normalised member name, or FormatError when it escapes the archive root."""
    clean = name.replace("\\", "/")
    norm = posixpath.normpath(clean)
    if (
        clean.startswith("/")
        or norm == ".."
        or norm.startswith("../")
        or "\0" in clean
        or (len(clean) > 1 and clean[1] == ":")
    ):
        raise FormatError(f"{archive}: hostile archive: member {name!r} escapes the archive root")
    return norm


def members(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> Iterator[Member]:
    """Every regular file under ``path`` (a directory, a zip or a tarball), sorted for dirs."""
    if path.is_dir():
        yield from _dir_members(path, limits)
    elif path.name.lower().endswith(".zip"):
        yield from _zip_members(path, limits)
    elif is_archive(path):
        yield from _tar_members(path, limits)
    else:
        yield from _file_member(path, path.name, limits)


def _file_member(path: Path, name: str, limits: Limits) -> Iterator[Member]:
    try:
        size = path.stat().st_size
        if size > limits.max_member:
            yield Member(
                name=name, data=None, error=f"too large ({size} bytes; limit {limits.max_member})"
            )
            return
        with path.open("rb") as fh:
            data = fh.read(limits.max_member + 1)
    except OSError as exc:
        yield Member(name=name, data=None, error=f"cannot read: {exc.strerror or exc}")
        return
    if len(data) > limits.max_member:
        yield Member(name=name, data=None, error=f"too large (limit {limits.max_member} bytes)")
        return
    yield Member(name=name, data=data)


def _dir_members(root: Path, limits: Limits) -> Iterator[Member]:
    for dirpath, dirnames, filenames in os.walk(root):  # symlinked dirs are not followed
        dirnames.sort()
        prefix = os.path.relpath(dirpath, root)
        prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            if os.path.islink(full):
                continue  # a record tree has no business linking elsewhere
            yield from _file_member(Path(full), prefix + fname, limits)


def _zip_members(path: Path, limits: Limits) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"{path}: not a readable zip archive: {exc}") from None
    total = 0
    with zf:
        infos = zf.infolist()
        for info in infos:  # check every name before reading anything
            safe_name(info.filename, path)
        for info in infos:
            if info.is_dir():
                continue
            name = safe_name(info.filename, path)
            if info.file_size > MiB and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise FormatError(
                    f"{path}: hostile archive: member {name!r} inflates {info.compress_size} "
                    f"to {info.file_size} bytes (zip bomb?)"
                )
            if info.file_size > limits.max_member:
                yield Member(
                    name=name,
                    data=None,
                    error=f"too large ({info.file_size} bytes; limit {limits.max_member})",
                )
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(limits.max_member + 1)  # the header's size may lie
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise FormatError(f"{path}: corrupt zip member {name!r}: {exc}") from None
            except NotImplementedError as exc:
                yield Member(name=name, data=None, error=f"unsupported compression: {exc}")
                continue
            if len(data) > limits.max_member:
                raise FormatError(
                    f"{path}: hostile archive: member {name!r} is larger than declared"
                )
            total += len(data)
            if total > limits.max_total:
                raise FormatError(
                    f"{path}: hostile archive: more than {limits.max_total} bytes uncompressed"
                )
            yield Member(name=name, data=data)


def _open_tar_stream(path: Path) -> tuple[IO[bytes], tarfile.TarFile]:
    raw = path.open("rb")
    lower = path.name.lower()
    try:
        if lower.endswith((".zst", ".tzst")):
            stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
            return stream, tarfile.open(fileobj=stream, mode="r|")
        return raw, tarfile.open(fileobj=raw, mode="r|*")
    except (tarfile.TarError, OSError, zstandard.ZstdError) as exc:
        raw.close()
        raise FormatError(f"{path}: not a readable tar archive: {exc}") from None


def _tar_members(path: Path, limits: Limits) -> Iterator[Member]:
    stream, tf = _open_tar_stream(path)
    total = 0
    try:
        with stream, tf:
            while True:
                try:
                    info = tf.next()
                except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError) as exc:
                    raise FormatError(f"{path}: corrupt or truncated tar archive: {exc}") from None
                if info is None:
                    break
                name = safe_name(info.name, path)
                if info.issym() or info.islnk():
                    if posixpath.isabs(info.linkname) or ".." in info.linkname.split("/"):
                        raise FormatError(
                            f"{path}: hostile archive: link {name!r} -> {info.linkname!r} escapes"
                        )
                    continue
                if not info.isfile():
                    continue
                total += info.size
                if total > limits.max_total:
                    raise FormatError(
                        f"{path}: hostile archive: more than {limits.max_total} bytes uncompressed"
                    )
                if info.size > limits.max_member:
                    yield Member(
                        name=name,
                        data=None,
                        error=f"too large ({info.size} bytes; limit {limits.max_member})",
                    )
                    continue  # the stream skips the member's data on the next call
                try:
                    fh = tf.extractfile(info)
                    data = fh.read() if fh is not None else b""
                except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError) as exc:
                    raise FormatError(f"{path}: corrupt or truncated tar archive: {exc}") from None
                if len(data) != info.size:
                    raise FormatError(f"{path}: truncated tar archive at member {name!r}")
                yield Member(name=name, data=data)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read archive: {exc}") from None
