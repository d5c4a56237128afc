"""Helpers shared by the CycloneDX and SPDX codecs."""

from __future__ import annotations

import hashlib
import operator
import re
from collections import Counter
from collections.abc import Container, Iterable, Iterator

from packageurl import PackageURL

from hullcheck import __version__
from hullcheck.model import Inventory, Layer, Package, file_digest, is_file_digest

TOOL = "hullcheck"
TOOL_VERSION = __version__
_SCHEMES = ("docker://", "registry:", "oci-archive:", "oci:", "docker-archive:", "dir:")
_REF_SEGMENT = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_ABSOLUTE = operator.methodcaller("startswith", "/")


def shown(inventory: Inventory) -> tuple[Package, ...]:
    """The packages a CycloneDX or SPDX document lists for the inventory's scope.

    "squashed" lists what the final file system shows; "all-layers" lists everything, hidden
    packages marked. The count left out is always written into the document.
    """
    return inventory.packages if inventory.scope == "all-layers" else inventory.visible


class OwnedFiles:
    """What a reader collects of the files one package owns: paths in document order, each
    once, with at most one digest per algorithm (the first seen). Bounded work per entry,
    however often a hostile document repeats a file or its checksums."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, str]] = {}

    def add(self, path: str, digests: Iterable[str]) -> None:
        algorithms = self.paths.setdefault(path, {})
        for d in digests:
            algorithms.setdefault(d.partition(":")[0], d)

    def files(self) -> tuple[str, ...]:
        return tuple(self.paths)

    def digests(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((path, d) for path, algs in self.paths.items()
                            for d in algs.values()))


def owned_files(p: Package) -> tuple[str, ...]:
    """The files a package owns as CycloneDX and SPDX list them: absolute paths (a relative one
    is taken from the root), each once, in the package's order."""
    files = p.files
    if not all(map(_ABSOLUTE, files)):  # (the common case, all absolute, checked at C speed)
        files = tuple(map(absolute, files))
    return tuple(dict.fromkeys(files))


def hashed_ids(prefix: str, seeds: list[str], taken: set[str]) -> list[str] | None:
    """``prefix`` and the first 16 hex digits of each seed's sha256, made in one comprehension
    (no call per file: the big bench image's 48,000 file refs and ids) and added to
    ``taken``; None, nothing added, when one is taken already or two are alike (a 64-bit
    hash collision: the caller then makes them one by one, as its own function does)."""
    sha256 = hashlib.sha256
    made = [prefix + sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            for seed in seeds]
    fresh = set(made)
    if len(fresh) != len(made) or not taken.isdisjoint(fresh):
        return None
    taken |= fresh
    return made


def file_digests(p: Package, owned: Container[str]) -> Iterator[tuple[str, str, str]]:
    """(absolute path, algorithm, lower-case hex) for each valid digest of a file among
    ``owned`` (absolute paths) in the package's ``file_digests``; malformed ones are left out."""
    for path, digest in p.file_digests:
        if path[:1] != "/":
            path = "/" + path  # noqa: PLW2901
        if path not in owned:
            continue
        if not is_file_digest(digest):
            algorithm, _, value = digest.partition(":")
            canonical = file_digest(algorithm, value)  # upper-case hex
            if canonical is None:
                continue
            digest = canonical  # noqa: PLW2901
        algorithm, _, value = digest.partition(":")
        yield path, algorithm, value


def group_digests(found: Iterable[tuple[str, str, str]],
                  into: dict[str, dict[str, str]]) -> None:
    """Add (path, algorithm, hex) to ``into`` (path -> algorithm -> hex), keeping the first
    value of each algorithm: two values for one file cannot both be right, and the writers
    and readers of both formats keep the first."""
    for path, algorithm, value in found:
        into.setdefault(path, {}).setdefault(algorithm, value)


def absolute(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def refs(packages: Iterable[Package]) -> list[str]:
    """One unique reference per package: its purl, plus "|N" for the Nth duplicate."""
    seen: Counter[str] = Counter()
    out = []
    for p in packages:
        base = p.purl or f"hullcheck:{p.type.value}/{p.name}@{p.version}"
        seen[base] += 1
        out.append(base if seen[base] == 1 else f"{base}|{seen[base]}")
    return out


def image_purl(kind: str, name: str, digest: str) -> PackageURL | None:
    """``pkg:oci/<name>@<digest>`` (with ``repository_url`` for registry images), or None when
    there is no manifest digest or no usable name."""
    if not digest.startswith("sha256:"):
        return None
    ref = name
    for scheme in _SCHEMES:
        if ref.startswith(scheme):
            ref = ref[len(scheme):]
            break
    head, _, last = ref.split("@", 1)[0].rpartition("/")
    last = last.split(":", 1)[0].lower()
    if not _REF_SEGMENT.match(last):
        return None
    qualifiers = {"repository_url": f"{head}/{last}".lower()} if kind == "registry" and head else {}
    return PackageURL(type="oci", name=last, version=digest, qualifiers=qualifiers)


class LayerTable:
    """Layers of a decoded document: the listed ones, plus any new diff id a package names
    (appended in order of first mention, since foreign documents rarely list layers)."""

    def __init__(self, layers: Iterable[Layer] = ()) -> None:
        self.layers = list(layers)
        self._by_diff = {x.diff_id: x.index for x in self.layers if x.diff_id}
        self._by_digest = {x.digest: x.index for x in self.layers if x.digest}

    def index(self, diff_id: str = "", digest: str = "") -> int | None:
        if diff_id in self._by_diff:
            return self._by_diff[diff_id]
        if digest in self._by_digest:
            return self._by_digest[digest]
        if not diff_id and not digest:
            return None
        idx = max((x.index for x in self.layers), default=-1) + 1
        self.layers.append(Layer(index=idx, digest=digest, diff_id=diff_id))
        if diff_id:
            self._by_diff[diff_id] = idx
        if digest:
            self._by_digest[digest] = idx
        return idx

    def get(self, index: int | None) -> Layer | None:
        return next((x for x in self.layers if x.index == index), None)
