"""FileTree → Inventory: detect the distro, run every cataloger over every version of
its evidence files, attribute each package to the layer that brought it, and
separate what a container sees from what is shipped but hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from hullcheck.catalog import distro as _distro
from hullcheck.catalog.base import BinaryCataloger, Cataloger, Env
from hullcheck.catalog.registry import CATALOGERS
from hullcheck.catalog.streaming import (
    PARSE_ERRORS,
    BinarySink,
    BinarySpec,
    RecordSpec,
    Streamed,
    StreamedFile,
    at_path,
)
from hullcheck.ecosystem import is_os
from hullcheck.filetree import FileEntry, FileTree, Kind, View, compile_globs
from hullcheck.model import (
    ImageSource,
    Inventory,
    Location,
    Package,
    PackageType,
    Relationship,
    RelationshipType,
    Unknown,
    Visibility,
)

__all__ = ["CATALOGERS", "BinarySink", "BinarySpec", "Cataloger", "Env", "RecordSpec", "Streamed",
           "globs_for", "run"]


def globs_for(catalogers: Sequence[Cataloger] = CATALOGERS, *,
              streamed: bool = False) -> tuple[str, ...]:
    """Every path the catalogers want the bytes of (evidence and supporting files).
    ``streamed``: but for the binary catalogers' evidence, which a ``BinarySink`` reads as
    the layers stream by (the tree then keeps no executable's bytes)."""
    out = set(_distro.GLOBS)
    for c in catalogers:
        if not (streamed and isinstance(c, BinaryCataloger)):
            out.update(c.globs)
        out.update(c.needs)
    return tuple(sorted(out))


@dataclasses.dataclass(slots=True)
class _Seen:
    package: Package  # the best copy: the visible one when there is one
    first_layer: int | None
    visible: bool


def run(
    tree: FileTree,
    source: ImageSource,
    *,
    catalogers: Sequence[Cataloger] = CATALOGERS,
    scope: str = "squashed",
    streamed: Streamed | None = None,
    digests: Mapping[tuple[int, str], str] | None = None,
) -> Inventory:
    """``streamed``: what a ``BinarySink`` found in executables while the layers were read;
    its packages count as its catalogers' evidence, which are not run over the tree."""
    final_view = tree.view()
    distro = _distro.detect(final_view)
    env = Env(distro=distro, digests=digests or {})
    has_layers = bool(tree.layers)
    unknowns: list[Unknown] = []
    seen: dict[tuple[object, ...], _Seen] = {}

    def add(pkg: Package, path: str, layer: int | None, visible: bool) -> None:
        key = (pkg.key, pkg.locations[0].path if pkg.locations else path)
        prior = seen.get(key)
        if prior is None:
            seen[key] = _Seen(package=pkg, first_layer=layer, visible=visible)
            return
        if visible and not prior.visible:
            prior.package = pkg
        prior.visible = prior.visible or visible
        if layer is not None and (prior.first_layer is None or layer < prior.first_layer):
            prior.first_layer = layer

    names = {cat.name for cat in catalogers}
    streamed = streamed if streamed is not None else Streamed(catalogers=frozenset())
    own: dict[str, list[StreamedFile]] = {}  # each cataloger's files under its globs
    for sf in streamed.files:
        if sf.cataloger not in names:
            continue
        if sf.globbed:
            own.setdefault(sf.cataloger, []).append(sf)
            continue
        entry = tree.written_by(sf.path, sf.layer)
        if entry is None:
            continue
        layer = entry.layer if has_layers else None
        # Where the file landed (a symlinked parent may have moved it), not its tar path.
        if sf.error:
            unknowns.append(Unknown(location=Location(path=entry.path, layer=layer),
                                    cataloger=sf.cataloger, reason=sf.error))
        for pkg in sf.packages:
            add(at_path(pkg, sf.path, entry.path), entry.path, layer, tree.is_visible(entry))

    for cat in catalogers:
        if cat.name in streamed.catalogers:
            # The sink read its files: what it found there, in this pass's order.
            for entry, sf in _placed(tree, own.get(cat.name, ())):
                layer = entry.layer if has_layers else None
                if sf.error:
                    unknowns.append(Unknown(location=Location(path=entry.path, layer=layer),
                                            cataloger=cat.name, reason=sf.error))
                for pkg in sf.packages:
                    add(at_path(pkg, sf.path, entry.path), entry.path, layer,
                        tree.is_visible(entry))
            continue
        pattern = compile_globs(cat.globs)
        if pattern is None:
            continue
        for entry in tree.matching_versions(pattern):
            layer = entry.layer if has_layers else None
            loc = Location(path=entry.path, layer=layer)
            if entry.too_large:
                unknowns.append(Unknown(location=loc, cataloger=cat.name,
                                        reason=f"file of {entry.size} bytes is over the size limit"))
                continue
            visible = tree.is_visible(entry)
            view = final_view if visible else tree.view(upto=entry.layer)
            try:
                found: list[Package | Unknown] = list(cat.parse(entry, view, env))
            except PARSE_ERRORS as exc:
                unknowns.append(Unknown(location=loc, cataloger=cat.name, reason=str(exc)))
                continue
            for item in found:
                if isinstance(item, Unknown):
                    # A parser's per-record problem (a broken stanza): it knows what, we
                    # know where.
                    unknowns.append(Unknown(location=loc, cataloger=cat.name, reason=item.reason))
                    continue
                add(item, entry.path, layer, visible)

    packages: list[Package] = []
    for s in seen.values():
        pkg = s.package
        locs = list(pkg.locations) or [Location(path="")]
        locs[0] = Location(path=locs[0].path, layer=s.first_layer)
        packages.append(
            dataclasses.replace(
                pkg,
                locations=tuple(locs),
                visibility=Visibility.VISIBLE if s.visible else Visibility.HIDDEN,
            )
        )
    packages, relationships, owned = _apply_ownership(packages, final_view)
    packages.sort(key=lambda p: (p.type.value, p.name, p.version, p.locations[0].path))
    total = 0
    owned_count = 0
    for path in tree.file_paths():
        total += 1
        owned_count += path in owned
    for path in _linked_files(tree, streamed):
        total += 1
        owned_count += path in owned
    return Inventory(
        source=source,
        distro=distro,
        layers=tree.layers,
        packages=tuple(packages),
        relationships=tuple(relationships),
        unknowns=tuple(_dedupe(unknowns)),
        scope=scope,
        files_total=total,
        files_owned=owned_count,
    )


def _linked_files(tree: FileTree, streamed: Streamed) -> set[str]:
    """The visible hard links a tree that kept the executables' bytes held as files (the
    binary sink says which): the file count counts them."""
    out = set()
    for layer, path in streamed.links:
        entry = tree.written_by(path, layer, links=True)
        if entry is not None and entry.kind is Kind.HARDLINK and tree.is_visible(entry):
            out.add(entry.path)
    return out


def _placed(tree: FileTree, files: Sequence[StreamedFile]
            ) -> list[tuple[FileEntry, StreamedFile]]:
    """Each file with its entry in the tree (where a symlinked parent placed it; a hard
    link's own), in the order of the tree's matching versions: by layer, then path."""
    out = []
    for sf in files:
        entry = tree.written_by(sf.path, sf.layer, links=True)
        if entry is not None:
            out.append((entry, sf))
    out.sort(key=lambda pair: (pair[0].layer, pair[0].path))
    return out


class _Resolver:
    """Canonical paths (directory symlinks resolved, e.g. merged /usr), cached per directory."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.dirs: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        parent, _, base = path.rpartition("/")
        real = self.dirs.get(parent)
        if real is None:
            real = self.view.resolve(parent or "/") or parent
            # A directory that is its own canonical path (most are) keeps its files' paths
            # as they are: marked by an empty string, no new string made for each file.
            self.dirs[parent] = real = "" if real == parent and parent[-1:] != "/" else real
        return f"{real.rstrip('/')}/{base}" if real else path

    def many(self, paths: Iterable[str]) -> list[str]:
        """Each path as ``self(path)`` gives it: one comprehension, the common case (a
        directory known to be canonical) a lookup in it, no call (ownership of the big bench
        image's 48,000 files: 34 ms one call each, 29 so; most of the rest is resolving each
        of their 8,300 directories once)."""
        known, call = self.dirs.get, self.__call__
        return [path if known(path.rpartition("/")[0]) == "" else call(path) for path in paths]


def _apply_ownership(
    packages: list[Package], view: View
) -> tuple[list[Package], list[Relationship], set[str]]:
    """Who owns which file. A language package whose evidence an OS package owns is marked
    ``owned_by`` (it is fixed through the distro); a binary found by its version string in a
    file an OS package owns is dropped: the OS package already reports it."""
    resolve = _Resolver(view)
    owner: dict[str, str] = {}
    for p in packages:
        if is_os(p.type) and p.visibility is Visibility.VISIBLE:
            owner.update(dict.fromkeys([f for f in resolve.many(p.files) if f not in owner],
                                       p.purl))  # each file's first owner
    owned: set[str] = set(owner)
    kept: list[Package] = []
    relationships: list[Relationship] = []
    for pkg in packages:
        if not is_os(pkg.type) and pkg.locations:
            evidence = resolve(pkg.locations[0].path.split("!", 1)[0])
            os_purl = owner.get(evidence)
            if os_purl is not None:
                if pkg.type is PackageType.BINARY:
                    continue
                pkg = dataclasses.replace(pkg, owned_by=os_purl)  # noqa: PLW2901
                relationships.append(Relationship(source=pkg.purl, target=os_purl,
                                                  type=RelationshipType.OWNED_BY))
            if pkg.visibility is Visibility.VISIBLE:
                owned.update(resolve.many(pkg.files))
                owned.add(evidence)
        kept.append(pkg)
    return kept, relationships, owned


def _dedupe(unknowns: list[Unknown]) -> list[Unknown]:
    """One Unknown per (file, layer, reason): several catalogers may want the same big file."""
    seen: dict[tuple[str, int | None, str], Unknown] = {}
    for u in unknowns:
        seen.setdefault((u.location.path, u.location.layer, u.reason), u)
    return list(seen.values())
