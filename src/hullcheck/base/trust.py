"""Is the base from a source we trust? A YAML trust file, judged against the identified base.

    # trust.yaml
    sources:
      - name: docker.io/library/debian        # registry/repository glob: * within a path
        digests: [sha256:...]                  #   component, ** across; optional pinned digests
        keys: [keys/debian.pub]                # optional: public keys (relative to this file),
      - name: registry.example.com/base/**     #   one of which must have signed the base digest
        identities:                            # optional: keyless signers (Fulcio/Rekor), one
          - identity: https://github.com/example/mirror/.github/workflows/build.yml@refs/heads/main
            issuer: https://token.actions.githubusercontent.com  # of which (or of the keys)
          - identityRegexp: ^https://github.com/example/     #  must have signed the base digest
            issuerRegexp: ^https://token.actions.githubusercontent.com$
    trustedRoot: sigstore/trusted_root.json    # optional: Sigstore trust material (default:
                                               #   the production root sigstore-python ships)

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
from hullcheck.signers import YAML_KEYS, IdentityPolicy, Keyless

MAX_TRUST_FILE = 1 << 20  # a list of sources; real ones are a few KiB


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedSource:
    name: str  # the glob as written
    digests: tuple[str, ...] = ()
    keys: tuple[Path, ...] = ()
    identities: tuple[IdentityPolicy, ...] = ()  # keyless signers, any of them (or a key)

    def matches(self, repository: str) -> bool:
        return _glob(self.name).fullmatch(repository) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustPolicy:
    path: Path
    sources: tuple[TrustedSource, ...]
    trusted_root: Path | None = None  # Sigstore trusted_root.json for keyless signers

    def signers(self, source: TrustedSource) -> tuple[Path | Keyless, ...]:
        """What may have signed a base of ``source``: its keys, and its keyless identities."""
        keyless = (Keyless(identities=source.identities, trusted_root=self.trusted_root),)
        return source.keys + (keyless if source.identities else ())


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


def _identities(entry: dict[str, Any], where: str) -> tuple[IdentityPolicy, ...]:
    """Keyless signers: mappings of identity/identityRegexp, issuer/issuerRegexp and the
    GitHub workflow claims (``signers.YAML_KEYS``)."""
    value = entry.get("identities") or []
    if not isinstance(value, list):
        raise FormatError(f"{where}: 'identities' must be a list of mappings")
    out = []
    for j, item in enumerate(value):
        at = f"{where}.identities[{j}]"
        if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
            raise FormatError(f"{at}: expected a mapping of strings (identity, issuer...)")
        unknown = {str(k) for k in item} - set(YAML_KEYS)
        if unknown:
            raise FormatError(f"{at}: unknown keys {', '.join(sorted(unknown))}"[:300])
        try:
            out.append(IdentityPolicy.from_yaml(item, error=FormatError, where=f"identities[{j}]"))
        except FormatError as exc:
            raise FormatError(f"{where}: {exc}") from None
    return tuple(out)


def parse(text: str, path: Path) -> TrustPolicy:
    doc = untrusted.yaml_document(text, what=f"{path}: trust file")
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise FormatError(f"{path}: trust file needs a 'sources' list",
                          hint="see docs/base-images.md for the trust file format")
    unknown_top = {str(k) for k in doc} - {"sources", "trustedRoot"}
    if unknown_top:
        raise FormatError(f"{path}: unknown keys {', '.join(sorted(unknown_top))}"[:300])
    root = doc.get("trustedRoot")
    if root is not None and (not isinstance(root, str) or not root):
        raise FormatError(f"{path}: 'trustedRoot' must be the path of a trusted_root.json")
    sources = []
    for i, entry in enumerate(doc["sources"]):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict):
            raise FormatError(f"{where}: expected a mapping with 'name'")
        unknown = {str(k) for k in entry} - {"name", "digests", "keys", "identities"}  # any type
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
                                     keys=keys, identities=_identities(entry, where)))
    return TrustPolicy(path=path, sources=tuple(sources),
                       trusted_root=path.parent / root if root else None)


def load(path: Path) -> TrustPolicy:
    data = untrusted.read_file(path, what="trust file", limit=MAX_TRUST_FILE)
    return parse(data.decode("utf-8", errors="replace"), path)


# Verifies that one of the signers (public key files, keyless identities) signed the image
# ``ref`` (which carries the digest); returns a description of each signer that verified,
# raises VerificationError otherwise.
SignatureVerifier = Callable[[Reference, tuple[Path | Keyless, ...]], tuple[str, ...]]


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
    signers_wanted = policy.signers(rule)
    if (rule.digests or signers_wanted) and not identity.digest:
        return TrustVerdict(state=TrustState.UNKNOWN, rule=rule.name,
                            reason=f"source {rule.name} pins digests or requires signatures, but "
                                   "the base's digest is unknown")
    if rule.digests and identity.digest not in rule.digests:
        return TrustVerdict(state=TrustState.UNTRUSTED, rule=rule.name,
                            reason=f"digest {identity.digest} is not one of the "
                                   f"{len(rule.digests)} digests pinned for {rule.name}")
    signers: tuple[str, ...] = ()
    if signers_wanted:
        if verify is None:
            return TrustVerdict(state=TrustState.UNKNOWN, rule=rule.name,
                                reason=f"source {rule.name} requires a signature, and signature "
                                       "verification is not available here")
        ref = parse_reference(f"{identity.name}@{identity.digest}")
        try:
            signers = verify(ref, signers_wanted)
        except VerificationError as exc:
            whose = "keys" if not rule.identities else "identities" if not rule.keys else \
                "keys or identities"
            return TrustVerdict(state=TrustState.UNTRUSTED, rule=rule.name,
                                reason=f"no signature by the {whose} of {rule.name} verified: {exc}")
    why = [f"matches allowed source {rule.name}"]
    if rule.digests:
        why.append("digest pinned")
    if signers:
        why.append("signed by " + ", ".join(signers))
    return TrustVerdict(state=TrustState.TRUSTED, rule=rule.name, reason="; ".join(why),
                        signers=signers)
