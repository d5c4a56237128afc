"""FileTree → Inventory: detect the distro, run every cataloger over every version of
its evidence files, attribute each package to the layer that brought it, and
separate what a container sees from what is shipped but hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from hullcheck.catalog import distro as _distro
from hullcheck.catalog.base import Cataloger, Env
from hullcheck.catalog.registry import CATALOGERS
from hullcheck.errors import FormatError
from hullcheck.filetree import FileTree, compile_globs
from hullcheck.model import (
    ImageSource,
    Inventory,
    Location,
    Package,
    Relationship,
    Unknown,
    Visibility,
)

__all__ = ["CATALOGERS", "Cataloger", "Env", "globs_for", "run"]


def globs_for(catalogers: Sequence[Cataloger] = CATALOGERS) -> tuple[str, ...]:
    """Every path the catalogers want the bytes of (evidence and supporting files)."""
    out = set(_distro.GLOBS)
    for c in catalogers:
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
) -> Inventory:
    final_view = tree.view()
    distro = _distro.detect(final_view)
    env = Env(distro=distro)
    has_layers = bool(tree.layers)
    unknowns: list[Unknown] = []
    seen: dict[tuple[object, ...], _Seen] = {}
    relationships: list[Relationship] = []

    for cat in catalogers:
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
                found: Iterable[Package] = list(cat.parse(entry, view, env))
            except (FormatError, ValueError, UnicodeDecodeError, KeyError, IndexError) as exc:
                unknowns.append(Unknown(location=loc, cataloger=cat.name, reason=str(exc)))
                continue
            for pkg in found:
                key = (pkg.key, pkg.locations[0].path if pkg.locations else entry.path)
                prior = seen.get(key)
                if prior is None:
                    seen[key] = _Seen(package=pkg, first_layer=layer, visible=visible)
                else:
                    if visible and not prior.visible:
                        prior.package = pkg
                    prior.visible = prior.visible or visible
                    if layer is not None and (prior.first_layer is None or layer < prior.first_layer):
                        prior.first_layer = layer

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
    packages.sort(key=lambda p: (p.type.value, p.name, p.version, p.locations[0].path))
    return Inventory(
        source=source,
        distro=distro,
        layers=tree.layers,
        packages=tuple(packages),
        relationships=tuple(relationships),
        unknowns=tuple(unknowns),
        scope=scope,
    )
