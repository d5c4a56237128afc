"""Which base an image was built on.

1. The OCI annotations ``org.opencontainers.image.base.name`` / ``.base.digest`` on the
   manifest (what ``docker buildx`` and many CI builders write), else the same keys as config
   labels (what a Dockerfile ``LABEL`` can carry).
2. Otherwise the catalog entry whose diffIDs are the longest prefix of the image's diffIDs.

Annotations are claims made by whoever built the image; the layers are evidence. When both
are available, ``check_layers`` records whether the claimed base's layers really are the
image's first layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from hullcheck.base.model import NOT_IDENTIFIED, BaseIdentity, CatalogEntry, IdentifiedBy
from hullcheck.errors import ImageError
from hullcheck.registry.reference import parse_reference

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def claimed(manifest: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[IdentifiedBy, str, str]:
    """(where, base name, base digest) from manifest annotations, else config labels; NONE when
    neither names a base."""
    cfg = config.get("config")
    labels = _str_map(cfg.get("Labels") if isinstance(cfg, dict) else None)
    for by, values in ((IdentifiedBy.ANNOTATION, _str_map(manifest.get("annotations"))),
                       (IdentifiedBy.LABEL, labels)):
        name, digest = values.get(BASE_NAME, "").strip(), values.get(BASE_DIGEST, "").strip()
        if name or digest:
            return by, name, digest
    return IdentifiedBy.NONE, "", ""


def _is_prefix(prefix: Sequence[str], seq: Sequence[str]) -> bool:
    return 0 < len(prefix) <= len(seq) and tuple(seq[: len(prefix)]) == tuple(prefix)


def by_layers(diff_ids: Sequence[str], entries: Iterable[CatalogEntry]) -> BaseIdentity:
    """The catalog entry whose diffIDs are the longest prefix of ``diff_ids``; among entries
    with the same layers, the one created last (the others are listed in ``also``)."""
    matches = [e for e in entries if _is_prefix(e.diff_ids, diff_ids)]
    if not matches:
        return NOT_IDENTIFIED
    longest = max(len(e.diff_ids) for e in matches)
    best = sorted((e for e in matches if len(e.diff_ids) == longest),
                  key=lambda e: (e.created, e.name, e.tag), reverse=True)
    top = best[0]
    return BaseIdentity(by=IdentifiedBy.LAYERS, name=top.name, tag=top.tag, digest=top.digest,
                        layers=longest, layers_match=True, entry=top,
                        also=tuple(e.reference for e in best[1:]))


def _split_name(text: str) -> tuple[str, str, str]:
    """(registry/repository, tag, digest) of an annotation's base name; the text itself when
    it is not a reference."""
    try:
        ref = parse_reference(text, default_tag=False)
    except ImageError:
        return text, "", ""
    return ref.name, ref.tag or "", ref.digest or ""


def identify(manifest: Mapping[str, Any], config: Mapping[str, Any], diff_ids: Sequence[str],
             entries: Iterable[CatalogEntry]) -> BaseIdentity:
    entries = tuple(entries)
    by, name_text, digest = claimed(manifest, config)
    if by is IdentifiedBy.NONE:
        return by_layers(diff_ids, entries)
    name, tag, ref_digest = _split_name(name_text) if name_text else ("", "", "")
    digest = digest or ref_digest
    # The catalog may know the claimed base: then its layers can be checked here.
    known = [e for e in entries if digest and digest in (e.digest, e.manifest_digest)]
    if known:
        entry = known[0]
        match = _is_prefix(entry.diff_ids, diff_ids)
        return BaseIdentity(by=by, name=name or entry.name, tag=tag or entry.tag, digest=digest,
                            layers=len(entry.diff_ids) if match else None, layers_match=match,
                            entry=entry)
    return BaseIdentity(by=by, name=name, tag=tag, digest=digest)


def check_layers(identity: BaseIdentity, base_diff_ids: Sequence[str],
                 diff_ids: Sequence[str]) -> BaseIdentity:
    """``identity`` with ``layers``/``layers_match`` set from the claimed base's own diffIDs."""
    match = _is_prefix(base_diff_ids, diff_ids)
    return replace(identity, layers=len(base_diff_ids) if match else None, layers_match=match)
