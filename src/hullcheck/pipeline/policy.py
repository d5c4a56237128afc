"""Policy: evidence gathered from every room (one read of the layers), then a pure decision.

The adapters here turn each room's typed result into the evidence records policy defines
(``policy.evidence``), so policy imports none of the rooms that gather it, and a field
renamed in one of them is a type error here, not an "unknown" in a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.image import PullOptions
from hullcheck.model import Inventory, Visibility
from hullcheck.pipeline.base import BaseRequest, _registry_ref, assess_base
from hullcheck.pipeline.images import Progress, SbomRequest, _open
from hullcheck.pipeline.inventory import inventory
from hullcheck.pipeline.scan import ScanRequest, scan
from hullcheck.pipeline.sign import verify_attestation, verify_image
from hullcheck.signers import Keyless

# The policy room (YAML, CEL, the advisory model) is imported where it is used: every
# command imports ``pipeline``, and most never judge a policy.
if TYPE_CHECKING:
    from hullcheck.base.model import BaseAssessment
    from hullcheck.match.model import Finding
    from hullcheck.misconfig import ConfigFinding
    from hullcheck.policy import (
        AttestationEvidence,
        BaseEvidence,
        ConfigEvidence,
        Decision,
        Evidence,
        ImageEvidence,
        PackageEvidence,
        Policy,
        SecretEvidence,
        SignatureEvidence,
        VulnEvidence,
    )
    from hullcheck.secrets.model import SecretFinding
    from hullcheck.sign.cosign import VerifiedAttestation, VerifiedSignature
    from hullcheck.signers import Signer


# -- adapters: each room's result as policy's evidence -----------------------------------------


def image_evidence(inv: Inventory, ref: str = "") -> ImageEvidence:
    from hullcheck.policy import ImageEvidence

    src = inv.source
    return ImageEvidence(ref=ref or src.name, digest=src.manifest_digest,
                         config_digest=src.config_digest)


def package_evidence(inv: Inventory) -> tuple[PackageEvidence, ...]:
    from hullcheck.policy import PackageEvidence

    return tuple(
        PackageEvidence(name=p.name, version=p.version, type=p.type.value, purl=p.purl,
                        licenses=p.licenses, layer=p.layer,
                        visible=p.visibility is Visibility.VISIBLE)
        for p in inv.packages
    )


def vulnerability_evidence(findings: Iterable[Finding],
                           published: Mapping[str, date] | None = None
                           ) -> tuple[VulnEvidence, ...]:
    """``published`` maps an advisory id to its publication date (the earliest date among a
    finding's ids and evidence records wins)."""
    from hullcheck.policy import VulnEvidence

    published = published or {}
    out = []
    for f in findings:
        dates = [published[i] for i in f.ids if i in published]
        dates += [published[e.advisory] for e in f.evidence if e.advisory in published]
        out.append(VulnEvidence(
            id=f.id, aliases=f.aliases, package=f.package.name, version=f.package.version,
            purl=f.package.purl, severity=f.severity, status=f.status,
            fixed_versions=f.fixed_versions, kev=f.kev is not None,
            published=min(dates) if dates else None,
            suppressed_by=f.suppressed.by if f.suppressed else "",
            suppression_reason=f.suppressed.reason if f.suppressed else "",
        ))
    return tuple(out)


def secret_evidence(findings: Iterable[SecretFinding]) -> tuple[SecretEvidence, ...]:
    """Every secret, in every layer: one a later layer deleted still ships (``visible``)."""
    from hullcheck.policy import SecretEvidence

    return tuple(SecretEvidence(rule=f.rule_id, severity=f.severity, path=f.path,
                                layer=f.layer.index if f.layer is not None else None,
                                visible=f.visible)
                 for f in findings)


def config_evidence(findings: Iterable[ConfigFinding]) -> tuple[ConfigEvidence, ...]:
    """The failed checks."""
    from hullcheck.policy import ConfigEvidence

    return tuple(ConfigEvidence(id=f.id, severity=f.severity, title=f.title) for f in findings)


def _signer(verified: VerifiedSignature | VerifiedAttestation) -> Signer | None:
    """Who signed keylessly (the certificate's identity and issuer); None for a key."""
    from hullcheck.sign.keyless import KeylessAttestation, KeylessSignature

    return verified.signer if isinstance(verified, KeylessSignature | KeylessAttestation) else None


def signature_evidence(verified: Iterable[VerifiedSignature]) -> tuple[SignatureEvidence, ...]:
    """Signatures the sign room verified (it raises for the others): by a key (its
    fingerprint) or keylessly (the signer's identity and issuer, no fingerprint)."""
    from hullcheck.policy import SignatureEvidence, normalise_fingerprint

    out = []
    for v in verified:
        signer = _signer(v)
        out.append(SignatureEvidence(key_fingerprint=normalise_fingerprint(v.key_fingerprint),
                                     verified=True,
                                     identity=signer.identity if signer else "",
                                     issuer=signer.issuer if signer else ""))
    return tuple(out)


def attestation_evidence(verified: Iterable[VerifiedAttestation]
                         ) -> tuple[AttestationEvidence, ...]:
    from hullcheck.policy import AttestationEvidence, normalise_fingerprint

    out = []
    for v in verified:
        signer = _signer(v)
        out.append(AttestationEvidence(predicate_type=v.predicate_type,
                                       key_fingerprint=normalise_fingerprint(v.key_fingerprint),
                                       verified=True,
                                       identity=signer.identity if signer else "",
                                       issuer=signer.issuer if signer else ""))
    return tuple(out)


def base_evidence(a: BaseAssessment) -> BaseEvidence:
    """What the base room established; what it could not stays None (unknown), so a rule
    over it fails closed."""
    from hullcheck.base.model import EolState, TrustState
    from hullcheck.policy import BaseEvidence

    trusted = None
    if a.trust is not None and a.trust.state is not TrustState.UNKNOWN:
        trusted = a.trust.state is TrustState.TRUSTED
    # As `hullcheck base --fail-eol`: past end of *security* support counts, so a release left
    # with only paid extended support (LTS/ESM/ELS) is end of life for a policy too.
    eol = None if a.eol.state is EolState.UNKNOWN else a.eol.past_security_support
    return BaseEvidence(name=a.identity.name, trusted=trusted, eol=eol,
                        days_behind=a.freshness.days_behind if a.freshness is not None else None)


# -- gathering -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceRequest:
    """What to gather for a policy about one image. ``needs`` holds ``policy.Need`` values
    (``Policy.needs()``); only those rooms run."""

    image: str
    needs: frozenset[str]
    db: Path | None = None
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    vex: tuple[Path, ...] = ()
    ignore: Path | None = None
    keys: tuple[Path, ...] = ()  # public keys to verify signatures and attestations with
    keyless: tuple[Keyless, ...] = ()  # keyless signers, one identity each (for require: all)
    attestation_types: tuple[str, ...] = ()
    base_trust: Path | None = None  # base trust file; None: trust unknown
    base_catalog: Path | None = None
    today: date = field(default_factory=date.today)


def _pinned_image(req: EvidenceRequest) -> tuple[str, str]:
    """(argument to read, reference shown): a registry tag is resolved once to its digest so
    every room reads the same image."""
    from hullcheck.image.remote import make_client

    ref = _registry_ref(req.image)
    if ref is None or ref.digest is not None:
        return req.image, req.image
    with make_client(req.pull) as client:
        digest = client.resolve(ref)
    return f"{ref.name}@{digest}", str(ref)


def _iso_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None  # an unreadable date stays unknown: the age rule then counts the finding


def _published_dates(findings: Sequence[Finding], db: Path | None) -> dict[str, date]:
    """Advisory publication dates for the findings' evidence records."""
    from hullcheck.vulndb import VulnStore, db_path

    out: dict[str, date] = {}
    with VulnStore.open(db_path(db)) as store:
        for f in findings:
            for ev in f.evidence:
                if ev.advisory in out:
                    continue
                adv = store.advisory(ev.advisory)
                day = _iso_day(adv.published) if adv is not None and adv.published else None
                if day is not None:
                    out[ev.advisory] = day
    return out


def _signatures(target: str, req: EvidenceRequest, notes: list[str]
                ) -> tuple[SignatureEvidence, ...] | None:
    if not req.keys and not req.keyless:
        notes.append("signatures: the policy names no public key file to verify with "
                     "(keys given by fingerprint only cannot verify)")
        return None
    from hullcheck.errors import VerificationError

    found = []
    signers: tuple[Path | Keyless, ...] = (*req.keys, *req.keyless)
    for key in signers:
        try:
            found.append(verify_image(target, key, req.pull))
        except VerificationError:
            continue  # not signed by this key: no evidence for it
    return signature_evidence(found)


def _attestations(target: str, req: EvidenceRequest, notes: list[str]
                  ) -> tuple[AttestationEvidence, ...] | None:
    if not req.keys and not req.keyless:
        notes.append("attestations: the policy names no public key file to verify with")
        return None
    from hullcheck.errors import VerificationError

    found: list[VerifiedAttestation] = []
    attesters: tuple[Path | Keyless, ...] = (*req.keys, *req.keyless)
    for key in attesters:
        for ptype in req.attestation_types or (None,):
            try:
                found.extend(verify_attestation(target, key, ptype, req.pull))
            except VerificationError:
                continue
    return attestation_evidence(found)


def gather_evidence(req: EvidenceRequest, progress: Progress | None = None) -> Evidence:
    from hullcheck.policy import Evidence, ImageEvidence, Need

    target, shown = _pinned_image(req)
    notes: list[str] = []
    packages = vulns = secrets = config = signatures = attestations = None
    base = None
    # One read of the layers serves vulnerabilities, secrets and configuration checks.
    scanners = tuple(name for name, need in (("vuln", Need.VULNERABILITIES),
                                             ("secret", Need.SECRETS), ("config", Need.CONFIG))
                     if need in req.needs)
    report = None
    if scanners:
        report = scan(ScanRequest(target=target, db=req.db, platform=req.platform, pull=req.pull,
                                  vex=req.vex, ignore=req.ignore, today=req.today,
                                  scanners=scanners), progress)
        if report.secrets is not None:  # every layer, deleted files too, Env and history
            secrets = secret_evidence(report.secrets.findings)
        if report.config is not None:
            config = config_evidence(report.config.findings)
    if report is not None and Need.VULNERABILITIES in req.needs:
        inv = report.inventory
        vulns = vulnerability_evidence(report.findings,
                                       _published_dates(report.findings, req.db))
        notes.extend(report.notes)
    elif Need.PACKAGES in req.needs:
        inv = inventory(SbomRequest(image=target, platform=req.platform, pull=req.pull), progress)
    elif report is not None:
        inv = report.inventory
    else:
        inv = Inventory(source=_open(target, req.platform, req.pull, None).source)
    image = image_evidence(inv, shown)
    if image.digest == "" and "@" in target:
        image = ImageEvidence(ref=shown, digest=target.rsplit("@", 1)[1])
    if Need.PACKAGES in req.needs or Need.VULNERABILITIES in req.needs:
        packages = package_evidence(inv)
    if Need.SIGNATURES in req.needs:
        signatures = _signatures(target, req, notes)
    if Need.ATTESTATIONS in req.needs:
        attestations = _attestations(target, req, notes)
    if Need.BASE in req.needs:
        assessment = assess_base(BaseRequest(image=target, catalog=req.base_catalog,
                                             trust=req.base_trust, db=req.db,
                                             platform=req.platform, pull=req.pull,
                                             today=req.today, advice=False))
        base = base_evidence(assessment)
        notes.extend(f"base: {n}" for n in assessment.notes)
    return Evidence(image=image, packages=packages, vulnerabilities=vulns, secrets=secrets,
                    config=config, signatures=signatures, attestations=attestations,
                    base=base, notes=tuple(notes))


def evidence_request(policy: Policy, image: str, *, db: Path | None = None,
                     platform: str | None = None, pull: PullOptions | None = None,
                     vex: tuple[Path, ...] = (), base_trust: Path | None = None
                     ) -> EvidenceRequest:
    """What ``policy`` needs gathered about ``image``: keyless identities are verified one
    by one, so ``require: all`` sees each that signed."""
    root = Path(policy.trusted_root()) if policy.trusted_root() else None
    return EvidenceRequest(image=image, needs=frozenset(n.value for n in policy.needs()),
                           keys=tuple(Path(k) for k in policy.verification_keys()),
                           keyless=tuple(Keyless(identities=(p,), trusted_root=root)
                                         for p in policy.signing_identities()),
                           attestation_types=policy.attestation_types(), db=db,
                           platform=platform, pull=pull or PullOptions(), vex=vex,
                           base_trust=base_trust)


def decide(evidence: Evidence, policy: Policy, today: date) -> Decision:
    """The decision (pure: ``policy.evaluate``); the CLI and the admission webhook both ask
    here, so they judge the same evidence the same way."""
    from hullcheck.policy import evaluate

    return evaluate(evidence, policy, now=today)


def policy_check(policy: Policy, req: EvidenceRequest, progress: Progress | None = None
                 ) -> tuple[Evidence, Decision]:
    evidence = gather_evidence(req, progress)
    return evidence, decide(evidence, policy, req.today)
