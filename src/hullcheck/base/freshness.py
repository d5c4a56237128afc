"""Is the base current? Ask the registry where the base's tag points now.

    fresh = check(client, name="127.0.0.1:5000/base", tag="12", built_digest="sha256:...")
    fresh.sentence()  # built on digest X (created D1); tag T now points to Y (created D2): N days behind

Created dates come from each image's config (for an index, from the manifest of the
requested platform), fetched and digest-verified through the registry client, and read
against the size its descriptor declares (no byte past it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hullcheck.base.model import Freshness
from hullcheck.errors import FormatError, ImageError
from hullcheck.image.oci import Platform, declared_size, load_json
from hullcheck.image.remote import platform_manifest
from hullcheck.registry.client import MAX_CONFIG_SIZE, RegistryClient
from hullcheck.registry.reference import Reference, parse_reference

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_created(text: str) -> datetime | None:
    """An image config's ``created`` (RFC 3339, often with nanoseconds) as an aware datetime;
    None when absent or unreadable (Docker writes ``0001-01-01T00:00:00Z`` for "unknown")."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("z", "Z"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return None if value.year <= 1 else value


def created_of(client: RegistryClient, ref: Reference, platform: Platform | None = None) -> datetime | None:
    """The config ``created`` date of the image ``ref`` names (descending an index)."""
    manifest = platform_manifest(client, ref, platform)
    doc = manifest.json()
    config = doc.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        raise FormatError(f"{ref}: manifest {manifest.digest} has no config descriptor")
    size = config_size(config, f"{ref}: manifest {manifest.digest} config")
    data = client.fetch_blob(ref, config["digest"], max_size=MAX_CONFIG_SIZE, size=size)
    created = load_json(data, f"config {config['digest']}").get("created")
    return parse_created(created) if isinstance(created, str) else None


def config_size(config: dict[str, Any], what: str) -> int:
    """The config descriptor's ``size``: a non-negative integer no larger than a config may be
    (the registry client would refuse it too, without saying it is the config's)."""
    size = declared_size(config, what)
    if size > MAX_CONFIG_SIZE:
        raise ImageError(f"{what}: descriptor {config.get('digest')} declares {size} bytes, "
                         f"over the {MAX_CONFIG_SIZE}-byte limit")
    return size


def check(client: RegistryClient, *, name: str, tag: str, built_digest: str,
          built_created: datetime | None = None, platform: Platform | None = None) -> Freshness:
    """Resolve ``name:tag`` now and compare with ``built_digest``.

    ``built_created`` saves a round trip when the caller knows it (from the catalog).
    """
    tag_ref = parse_reference(f"{name}:{tag}")
    current = client.resolve(tag_ref)
    if built_created is None:
        built_created = created_of(client, tag_ref.with_digest(built_digest), platform)
    current_created = (built_created if current == built_digest
                       else created_of(client, tag_ref.with_digest(current), platform))
    return Freshness(tag=f"{tag_ref.name}:{tag}", built_digest=built_digest,
                     built_created=built_created, current_digest=current,
                     current_created=current_created)
