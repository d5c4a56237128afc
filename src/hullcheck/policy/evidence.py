"""Evidence: the finished facts about one image that a policy judges.

Policy depends on nobody's internals: every room's output is copied into a small
record of our own by an adapter here (``from_inventory``, ``from_findings``,
``secrets_from``, ``config_from``, ``signatures_from``, ``attestations_from``,
``base_from``). The adapters read other rooms' values by attribute (structural typing),
so the secrets, misconfig, sign and base rooms can evolve without policy importing them.

A field left ``None`` means "not gathered" (the scanner did not run, the signature
check was not possible): a rule over it reports a violation saying so, never a pass.
An empty tuple means "gathered, nothing found".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from hullcheck.match.model import Finding, Level, Status
from hullcheck.model import Inventory, Visibility


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageEvidence:
    ref: str  # the reference as given or resolved, e.g. registry.example/app:1.2
    digest: str = ""  # manifest digest, sha256:...
    config_digest: str = ""

    @property
    def pinned(self) -> str:
        """``NAME@DIGEST`` when the digest is known, else the reference."""
        if not self.digest:
            return self.ref
        name = self.ref.split("@", 1)[0]
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name = name[:colon]
        return f"{name}@{self.digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageEvidence:
    name: str
    version: str
    type: str  # purl type: deb, pypi, npm...
    purl: str
    licenses: tuple[str, ...] = ()  # SPDX expressions (or text as found)
    layer: int | None = None
    visible: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnEvidence:
    id: str
    aliases: tuple[str, ...]
    package: str
    version: str
    purl: str
    severity: Level
    status: Status
    fixed_versions: tuple[str, ...] = ()
    kev: bool = False
    published: date | None = None  # first publication of the advisory, when known
    suppressed_by: str = ""  # VEX / ignore file that marked it, "" when active
    suppression_reason: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    @property
    def malicious(self) -> bool:
        return self.status is Status.MALICIOUS or self.severity is Level.MALICIOUS

    @property
    def has_fix(self) -> bool:
        return bool(self.fixed_versions)

    def age_days(self, today: date) -> int | None:
        return None if self.published is None else (today - self.published).days


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretEvidence:
    rule: str
    severity: Level
    path: str
    layer: int | None = None
    visible: bool = True  # False: a later layer deleted or overwrote it; it still ships


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigEvidence:
    id: str
    severity: Level
    title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureEvidence:
    key_fingerprint: str  # "sha256:<hex of the DER SubjectPublicKeyInfo>"; "" when keyless
    verified: bool
    identity: str = ""  # keyless: the certificate's identity and OIDC issuer
    issuer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationEvidence:
    predicate_type: str
    key_fingerprint: str = ""
    verified: bool = True
    identity: str = ""  # keyless: the certificate's identity and OIDC issuer
    issuer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvidence:
    name: str = ""  # the base image identified, when known
    trusted: bool | None = None
    eol: bool | None = None
    days_behind: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    image: ImageEvidence
    packages: tuple[PackageEvidence, ...] | None = None
    vulnerabilities: tuple[VulnEvidence, ...] | None = None
    secrets: tuple[SecretEvidence, ...] | None = None
    config: tuple[ConfigEvidence, ...] | None = None
    signatures: tuple[SignatureEvidence, ...] | None = None
    attestations: tuple[AttestationEvidence, ...] | None = None
    base: BaseEvidence | None = None
    notes: tuple[str, ...] = ()  # why something was not gathered, for the report


# -- adapters ------------------------------------------------------------------------------


def image_from(inv: Inventory, ref: str = "") -> ImageEvidence:
    src = inv.source
    return ImageEvidence(ref=ref or src.name, digest=src.manifest_digest,
                         config_digest=src.config_digest)


def from_inventory(inv: Inventory) -> tuple[PackageEvidence, ...]:
    return tuple(
        PackageEvidence(name=p.name, version=p.version, type=p.type.value, purl=p.purl,
                        licenses=p.licenses, layer=p.layer,
                        visible=p.visibility is Visibility.VISIBLE)
        for p in inv.packages
    )


def from_findings(findings: Iterable[Finding],
                  published: Mapping[str, date] | None = None) -> tuple[VulnEvidence, ...]:
    """Findings as evidence; ``published`` maps an advisory id to its publication date
    (the earliest date among a finding's ids wins)."""
    published = published or {}
    out = []
    for f in findings:
        dates = [published[i] for i in f.ids if i in published]
        dates += [published[e.advisory] for e in f.evidence if e.advisory in published]
        out.append(VulnEvidence(
            id=f.id, aliases=f.aliases, package=f.package.name, version=f.package.version,
            purl=f.package.purl, severity=f.level, status=f.status,
            fixed_versions=f.fixed_versions, kev=f.kev is not None,
            published=min(dates) if dates else None,
            suppressed_by=f.suppressed.by if f.suppressed else "",
            suppression_reason=f.suppressed.reason if f.suppressed else "",
        ))
    return tuple(out)


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``obj`` (an object or a mapping) has."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return default


def _level(value: Any) -> Level:
    if isinstance(value, Level):
        return value
    text = str(getattr(value, "value", value) or "unknown")
    try:
        return Level.parse(text)
    except ValueError:
        return Level.UNKNOWN


def _layer_index(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    index = _attr(value, "index", "layer")
    return index if isinstance(index, int) else None


def secrets_from(findings: Iterable[Any]) -> tuple[SecretEvidence, ...]:
    """From the secrets room's findings: ``rule`` (an id or an object with ``id``),
    ``severity``, ``path`` or ``location.path``, ``layer``, ``visible``."""
    out = []
    for f in findings:
        rule = _attr(f, "rule", "rule_id", "id", default="")
        rule = _attr(rule, "id", default=rule) if not isinstance(rule, str) else rule
        location = _attr(f, "location")
        path = _attr(f, "path", default=None) or (_attr(location, "path", default="")
                                                 if location is not None else "")
        layer = _attr(f, "layer", default=None)
        if layer is None and location is not None:
            layer = _attr(location, "layer")
        out.append(SecretEvidence(
            rule=str(rule), severity=_level(_attr(f, "severity", default=_attr(rule, "severity"))),
            path=str(path), layer=_layer_index(layer),
            visible=bool(_attr(f, "visible", default=True)),
        ))
    return tuple(out)


def config_from(findings: Iterable[Any]) -> tuple[ConfigEvidence, ...]:
    """From the misconfig room's findings: ``id`` (or ``check.id``), ``severity``, ``title``."""
    out = []
    for f in findings:
        check = _attr(f, "check")
        ident = _attr(f, "id", "check_id", default=None) or _attr(check, "id", default="")
        sev = _attr(f, "severity", default=None) or _attr(check, "severity")
        title = _attr(f, "title", default=None) or _attr(check, "title", default="")
        out.append(ConfigEvidence(id=str(ident), severity=_level(sev), title=str(title or "")))
    return tuple(out)


def signatures_from(verified: Iterable[Any]) -> tuple[SignatureEvidence, ...]:
    """From verified signatures (the sign room returns verified objects or raises): the
    key fingerprint as ``key_fingerprint``, ``fingerprint`` or ``key.fingerprint``."""
    out = []
    for v in verified:
        fp = _attr(v, "key_fingerprint", "fingerprint", "key_id", default=None)
        if fp is None:
            fp = _attr(_attr(v, "key"), "fingerprint", default="")
        identity, issuer = _signer(v)
        out.append(SignatureEvidence(key_fingerprint=normalise_fingerprint(str(fp)),
                                     verified=bool(_attr(v, "verified", default=True)),
                                     identity=identity, issuer=issuer))
    return tuple(out)


def _signer(verified: Any) -> tuple[str, str]:
    """(identity, issuer) of a keyless result's ``signer``; ("", "") for a key's."""
    signer = _attr(verified, "signer", default=None)
    if signer is None:
        return "", ""
    return str(_attr(signer, "identity", default="")), str(_attr(signer, "issuer", default=""))


def attestations_from(verified: Iterable[Any]) -> tuple[AttestationEvidence, ...]:
    out = []
    for v in verified:
        statement = _attr(v, "statement")
        ptype = _attr(v, "predicate_type", "predicateType", default=None)
        if ptype is None and statement is not None:
            ptype = _attr(statement, "predicate_type", "predicateType", default="")
        fp = _attr(v, "key_fingerprint", "fingerprint", default=None)
        if fp is None:
            fp = _attr(_attr(v, "key"), "fingerprint", default="")
        identity, issuer = _signer(v)
        out.append(AttestationEvidence(predicate_type=str(ptype or ""),
                                       key_fingerprint=normalise_fingerprint(str(fp or "")),
                                       verified=bool(_attr(v, "verified", default=True)),
                                       identity=identity, issuer=issuer))
    return tuple(out)


def _state(value: Any) -> str:
    return str(getattr(value, "value", value) or "").lower()


def base_from(assessment: Any) -> BaseEvidence:
    """From the base room's assessment: ``trust.state`` (trusted / untrusted / unknown),
    ``eol.state`` (end-of-life / supported / extended-support-only / unknown),
    ``freshness.days_behind``; flat ``trusted`` / ``eol`` / ``days_behind`` are read too.
    Whatever it could not establish stays None (unknown)."""
    identity = _attr(assessment, "identity")
    name = _attr(identity, "name", default="") if identity is not None else ""
    name = name or _attr(assessment, "name", default="")

    trusted = _attr(assessment, "trusted", default=None)
    trust = _attr(assessment, "trust", default=None)
    if trusted is None and trust is not None:
        trusted = {"trusted": True, "untrusted": False}.get(_state(_attr(trust, "state")))

    eol = _attr(assessment, "eol", "end_of_life", default=None)
    if eol is not None and not isinstance(eol, bool):
        # As `hullcheck base --fail-eol`: past end of *security* support counts, so a release
        # left with only paid extended support (LTS/ESM/ELS) is end of life for a policy too.
        past = _attr(eol, "past_security_support", default=None)
        eol = past if isinstance(past, bool) else {
            "end-of-life": True, "supported": False, "extended-support-only": True,
        }.get(_state(_attr(eol, "state")))

    days = _attr(assessment, "days_behind", default=None)
    freshness = _attr(assessment, "freshness", default=None)
    if days is None and freshness is not None:
        days = _attr(freshness, "days_behind", default=None)
    return BaseEvidence(
        name=str(name or ""),
        trusted=trusted if isinstance(trusted, bool) else None,
        eol=eol if isinstance(eol, bool) else None,
        days_behind=days if isinstance(days, int) and not isinstance(days, bool) else None,
    )


def normalise_fingerprint(text: str) -> str:
    """``sha256:<lowercase hex>``; a bare hex string gets the prefix, colons are dropped."""
    text = text.strip()
    if not text:
        return ""
    algo, sep, rest = text.partition(":")
    if sep and algo.lower() in ("sha256", "sha384", "sha512"):
        return f"{algo.lower()}:{rest.replace(':', '').lower()}"
    return "sha256:" + text.replace(":", "").lower()
