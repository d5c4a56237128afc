"""Evidence: the finished facts about one image that a policy judges.

Policy depends on nobody's internals: these records are its own, and ``pipeline.policy``
fills them from the other rooms' typed results (findings, secrets, configuration checks,
verified signatures and attestations, the base assessment). Policy imports none of the
rooms that gather evidence.

A field left ``None`` means "not gathered" (the scanner did not run, the signature
check was not possible): a rule over it reports a violation saying so, never a pass.
An empty tuple means "gathered, nothing found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hullcheck.match.model import Status
from hullcheck.model import Severity


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
    severity: Severity
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
        return self.status is Status.MALICIOUS or self.severity is Severity.MALICIOUS

    @property
    def has_fix(self) -> bool:
        return bool(self.fixed_versions)

    def age_days(self, today: date) -> int | None:
        return None if self.published is None else (today - self.published).days


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretEvidence:
    rule: str
    severity: Severity
    path: str
    layer: int | None = None
    visible: bool = True  # False: a later layer deleted or overwrote it; it still ships


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigEvidence:
    id: str
    severity: Severity
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


def normalise_fingerprint(text: str) -> str:
    """``sha256:<lowercase hex>``; a bare hex string gets the prefix, colons are dropped."""
    text = text.strip()
    if not text:
        return ""
    algo, sep, rest = text.partition(":")
    if sep and algo.lower() in ("sha256", "sha384", "sha512"):
        return f"{algo.lower()}:{rest.replace(':', '').lower()}"
    return "sha256:" + text.replace(":", "").lower()
