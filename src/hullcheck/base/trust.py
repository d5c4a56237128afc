"""Is the base from a source we trust? A YAML trust file, judged against the identified base.

    # trust.yaml
    sources:
      - name: docker.io/library/debian        # registry/repository glob: * within a path
        digests: [sha256:...]                  #   component, ** across; optional pinned digests
        keys: [keys/debian.pub]                # optional: public keys (relative to this file),
      - name: registry.example.com/base/**     #   one of which must have signed the base digest

Verdicts: ``trusted`` (a source matched and every condition it sets held), ``untrusted``
(no source matches the base's repository, the digest is not pinned, or no key verified a
signature), ``unknown`` (no base identified, or the base's digest is unknown). The first
source whose name matches decides; its reason says which condition failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hullcheck import globs, untrusted
from hullcheck.base.model import BaseIdentity, TrustState, TrustVerdict
from hullcheck.digest import parse_digest
from hullcheck.errors import FormatError, ImageError, VerificationError
from hullcheck.registry.reference import Reference, parse_reference

MAX_TRUST_FILE = 1 << 20  # a list of sources; real ones are a few KiB


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedSource:
    name: str  # the glob as written
    digests: tuple[str, ...] = ()
    keys: tuple[Path, ...] = ()

    def matches(self, repository: str) -> bool:
        return _glob(self.name).fullmatch(repository) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustPolicy:
    path: Path
    sources: tuple[TrustedSource, ...]


def _glob(pattern: str) -> re.Pattern[str]:
    # "/**/" is plain ".*" here: "a/**/b" does not match "a/b".
    return re.compile(globs.translate(pattern, empty_globstar_dir=False))


def _normalise_name(pattern: str) -> str:
    """Docker's short names (``debian``, ``library/debian``) as the registry/repository the
    identity carries; globs and full names are kept."""
    if any(c in pattern for c in "*?"):
        return pattern
    try:
        return parse_reference(pattern, default_tag=False).name
    except ImageError:
        return pattern


def _list(entry: dict[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FormatError(f"{where}: '{key}' must be a list of strings")
    return value


def parse(text: str, path: Path) -> TrustPolicy:
    doc = untrusted.yaml_document(text, what=f"{path}: trust file")
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise FormatError(f"{path}: trust file needs a 'sources' list",
                          hint="see docs/base-images.md for the trust file format")
    sources = []
    for i, entry in enumerate(doc["sources"]):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: expected a mapping with 'name'")
        unknown = {str(k) for k in entry} - {"name", "digests", "keys"}  # YAML keys: any type
        if unknown:
            raise FormatError(f"{where}: unknown keys {', '.join(sorted(unknown))}"[:300])
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FormatError(f"{where}: 'name' (a registry/repository glob) is required")
        digests = _list(entry, "digests", where)
        for d in digests:
            try:
                parse_digest(d)
            except ImageError:
                raise FormatError(f"{where}: invalid pinned digest {d!r}") from None
        keys = tuple((path.parent / k) for k in _list(entry, "keys", where))
        sources.append(TrustedSource(name=_normalise_name(name.strip()), digests=tuple(digests),
                                     keys=keys))
    return TrustPolicy(path=path, sources=tuple(sources))


def load(path: Path) -> TrustPolicy:
    data = untrusted.read_file(path, what="trust file", limit=MAX_TRUST_FILE)
    return parse(data.decode("utf-8", errors="replace"), path)


# Verifies that one of ``keys`` signed the image ``ref`` (which carries the digest); returns
# a description of each key that verified, raises VerificationError otherwise.
SignatureVerifier = Callable[[Reference, tuple[Path, ...]], tuple[str, ...]]


def evaluate(identity: BaseIdentity, policy: TrustPolicy,
             verify: SignatureVerifier | None = None) -> TrustVerdict:
    if not identity.found or not identity.name:
        return TrustVerdict(state=TrustState.UNKNOWN,
                            reason="the base image was not identified, so its source is unknown")
    if identity.layers_match is False:
        return TrustVerdict(
            state=TrustState.UNTRUSTED,
            reason=f"the image claims base {identity.reference} by {identity.by.value}, but that "
                   "image's layers are not the image's first layers")
    rule = next((s for s in policy.sources if s.matches(identity.name)), None)
    if rule is None:
        return TrustVerdict(state=TrustState.UNTRUSTED,
                            reason=f"{identity.name} is not an allowed source in {policy.path}")
    if (rule.digests or rule.keys) and not identity.digest:
        return TrustVerdict(state=TrustState.UNKNOWN, rule=rule.name,
                            reason=f"source {rule.name} pins digests or requires signatures, but "
                                   "the base's digest is unknown")
    if rule.digests and identity.digest not in rule.digests:
        return TrustVerdict(state=TrustState.UNTRUSTED, rule=rule.name,
                            reason=f"digest {identity.digest} is not one of the "
                                   f"{len(rule.digests)} digests pinned for {rule.name}")
    signers: tuple[str, ...] = ()
    if rule.keys:
        if verify is None:
            return TrustVerdict(state=TrustState.UNKNOWN, rule=rule.name,
                                reason=f"source {rule.name} requires a signature, and signature "
                                       "verification is not available here")
        ref = parse_reference(f"{identity.name}@{identity.digest}")
        try:
            signers = verify(ref, rule.keys)
        except VerificationError as exc:
            return TrustVerdict(state=TrustState.UNTRUSTED, rule=rule.name,
                                reason=f"no signature by the keys of {rule.name} verified: {exc}")
    why = [f"matches allowed source {rule.name}"]
    if rule.digests:
        why.append("digest pinned")
    if signers:
        why.append("signed by " + ", ".join(signers))
    return TrustVerdict(state=TrustState.TRUSTED, rule=rule.name, reason="; ".join(why),
                        signers=signers)
