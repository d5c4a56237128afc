"""Base images: identity, trust, freshness, end of life, rebuild advice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck import filetree
from hullcheck.errors import UsageError
from hullcheck.image import Image, Platform, PullOptions, open_image
from hullcheck.pipeline.scan import ScanRequest, scan
from hullcheck.pipeline.sign import trust_root
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.base.model import BaseAssessment, CatalogEntry
    from hullcheck.base.trust import SignatureVerifier
    from hullcheck.model import Distro
    from hullcheck.registry.reference import Reference
    from hullcheck.sign.keys import PublicKey
    from hullcheck.sign.store import Target
    from hullcheck.sign.trustroot import TrustRoot


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseRequest:
    image: str
    catalog: Path | None = None  # default: $HULLCHECK_BASE_CATALOG, else the user data dir
    trust: Path | None = None  # a trust file; None: no trust verdict
    db: Path | None = None  # advisory database for rebuild advice
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    today: date = field(default_factory=date.today)
    advice: bool = True  # scan the image and the newer base when the base is behind
    eol_table: Path | None = None  # default: the updated table in the cache, else the bundled one
    # Raise when the registry cannot say where the base's tag points (--max-age needs it);
    # otherwise that becomes a note and freshness stays unknown.
    require_freshness: bool = False


def image_distro(image: Image) -> Distro | None:
    """The distro from the image's os-release, reading only the few files that say it; with
    a layer cache, the catalogers' entries of every layer (a scan's: no layer read again)."""
    from hullcheck import catalog
    from hullcheck.catalog import distro as _distro
    from hullcheck.pipeline.images import layer_store

    store = layer_store()
    globs = _distro.GLOBS if store is None else catalog.globs_for(streamed=True)
    return _distro.detect(filetree.build(image, globs, store=store).view())


def _registry_ref(text: str) -> Reference | None:
    """The registry reference ``text`` names, or None for file and dir sources."""
    from hullcheck.image import split_source
    from hullcheck.registry.reference import parse_reference

    scheme, rest = split_source(text)
    return parse_reference(rest) if scheme == "registry" else None


def add_bases(refs: Sequence[str], *, catalog_file: Path | None = None, platform: str | None = None,
              pull: PullOptions | None = None, now: datetime | None = None) -> tuple[CatalogEntry, ...]:
    """Record each base (repository, tag, digest, created, distro, diffIDs) in the catalog;
    returns the new entries. Every reference is read before the catalog is written."""
    from hullcheck.base import catalog as base_catalog
    from hullcheck.base.model import CatalogEntry
    from hullcheck.image.remote import make_client

    pull = pull or PullOptions()
    plat = Platform.parse(platform) if platform else None
    added = (now or datetime.now(UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    new: list[CatalogEntry] = []
    for text in refs:
        image = open_image(text, platform=plat, pull=pull)
        if not image.layers:
            raise UsageError(f"{text}: a base image needs layers (dir: sources have none)")
        ref = _registry_ref(text)
        if ref is not None:
            with make_client(pull) as client:
                digest = client.resolve(ref)
            name, tag = ref.name, ref.tag or ""
        else:
            name, tag, digest = image.source.name, "", image.source.manifest_digest
        new.append(CatalogEntry(
            name=name, tag=tag, digest=digest, manifest_digest=image.source.manifest_digest,
            platform=image.source.platform, created=image.source.created,
            distro=image_distro(image), diff_ids=tuple(la.diff_id for la in image.layers),
            added=added))
    path = base_catalog.catalog_path(catalog_file)
    base_catalog.save(path, base_catalog.merge(base_catalog.load(path), new))
    return tuple(new)


def base_catalog_entries(catalog_file: Path | None = None) -> tuple[CatalogEntry, ...]:
    from hullcheck.base import catalog as base_catalog

    return base_catalog.load(base_catalog.catalog_path(catalog_file))


def signature_verifier(pull: PullOptions) -> SignatureVerifier:
    """Base trust's check of a source's signers: the base, resolved by digest in its registry,
    must carry a cosign signature (``.sig`` tag or Sigstore bundle referrer) by one of the
    keys, or keylessly by one of the identities, for exactly that digest. Returns a
    description of each signer that signed it. One registry client per check, closed after."""
    from hullcheck.errors import VerificationError
    from hullcheck.image.remote import make_client
    from hullcheck.sign import store

    def verify(ref: Reference, signers: tuple[Path | Keyless, ...]) -> tuple[str, ...]:
        if ref.digest is None:
            raise VerificationError(f"{ref}: a signature can only be checked for a digest")
        if not signers:
            raise VerificationError(f"{ref}: no keys to verify with")
        keys = tuple(s for s in signers if isinstance(s, Path))
        keyless = tuple(s for s in signers if isinstance(s, Keyless))
        named = _trust_keys(keys)
        roots = [(k, trust_root(k)) for k in keyless]  # a broken trusted root: FormatError
        with make_client(pull) as client:
            target = store.open_target(f"registry:{ref}", client=client)
            if target.digest != ref.digest:
                raise VerificationError(f"{ref}: the registry serves {target.digest}")
            return _signed_by(target, named, roots)

    return verify


def _trust_keys(paths: Sequence[Path]) -> list[tuple[str, PublicKey]]:
    """The trust file's public keys, named by their file; one that cannot be read is the
    trust file's error (exit 2), not an unverified signature."""
    from hullcheck.errors import FormatError, InputError
    from hullcheck.sign import keys

    named = []
    for path in paths:
        try:
            named.append((path.name, keys.read_public_key(path)))
        except InputError as exc:
            raise FormatError(f"trust file key {path}: {exc}", hint=exc.hint) from None
    return named


def _signed_by(target: Target, named: Sequence[tuple[str, PublicKey]],
               keyless: Sequence[tuple[Keyless, TrustRoot]]) -> tuple[str, ...]:
    """Each key and keyless signer that signed ``target``; VerificationError with every
    reason when none did."""
    from hullcheck.errors import HullcheckError, VerificationError
    from hullcheck.sign import cosign
    from hullcheck.sign import keyless as sign_keyless

    signers: list[str] = []
    reasons: list[str] = []
    if named:
        try:
            signers += [f"{name} ({v.key_fingerprint})" for name, v in cosign.signers(target, named)]
        except VerificationError as exc:
            reasons.append(str(exc))
    for accepted, root in keyless:
        try:
            v = sign_keyless.verify_image(target, accepted, root)
        except VerificationError as exc:
            reasons.append(str(exc))
            continue
        except HullcheckError as exc:
            reasons.append(f"keyless: {exc}")
            continue
        signers.append(f"{v.signer.identity} (issuer {v.signer.issuer})")
    if not signers:
        raise VerificationError("; ".join(reasons))
    return tuple(signers)


def assess_base(req: BaseRequest) -> BaseAssessment:
    from hullcheck.base import advice as base_advice
    from hullcheck.base import eol as base_eol
    from hullcheck.base import freshness as base_freshness
    from hullcheck.base import identify as base_identify
    from hullcheck.base import trust as base_trust
    from hullcheck.base.model import BaseAssessment, IdentifiedBy
    from hullcheck.errors import HullcheckError
    from hullcheck.image.remote import make_client
    from hullcheck.vulndb import db_path

    plat = Platform.parse(req.platform) if req.platform else None
    policy = base_trust.load(req.trust) if req.trust else None  # fail fast on a bad trust file
    table = base_eol.load_table(req.eol_table)
    image = open_image(req.image, platform=plat, pull=req.pull)
    distro = image_distro(image)
    diff_ids = tuple(la.diff_id for la in image.layers)
    identity = base_identify.identify(image.manifest, image.config, diff_ids,
                                      base_catalog_entries(req.catalog))
    notes: list[str] = []
    # The base's name comes from the image (its builder chose it): its registry is reached
    # with req.pull, whose explicit and environment credentials belong to req.pull.registry
    # only; any other host gets what Docker's config holds for it (image.remote.make_client).
    claimed = identity.by in (IdentifiedBy.ANNOTATION, IdentifiedBy.LABEL)
    if claimed and identity.layers_match is None and identity.name and identity.digest:
        # Check the claim: the named base's layers must be this image's first layers.
        try:
            claimed_base = open_image(f"registry:{identity.name}@{identity.digest}", platform=plat,
                                      pull=req.pull)
        except HullcheckError as exc:
            notes.append(f"could not read the claimed base {identity.reference} to check its "
                         f"layers: {exc}")
        else:
            identity = base_identify.check_layers(
                identity, [la.diff_id for la in claimed_base.layers], diff_ids)
    verdict = None
    if policy is not None:
        verdict = base_trust.evaluate(identity, policy, signature_verifier(req.pull))
    fresh = None
    if identity.found and identity.name and identity.tag and identity.digest:
        entry = identity.entry
        built_created = None
        if entry is not None and entry.digest == identity.digest:
            built_created = base_freshness.parse_created(entry.created)
        try:
            with make_client(req.pull) as client:
                fresh = base_freshness.check(client, name=identity.name, tag=identity.tag,
                                             built_digest=identity.digest,
                                             built_created=built_created, platform=plat)
        except HullcheckError as exc:
            if req.require_freshness:
                raise
            notes.append(f"freshness unknown: could not compare {identity.name}:{identity.tag} "
                         f"with the registry: {exc}")
    elif identity.found:
        notes.append(f"base {identity.reference or '(unnamed)'} has no tag and digest to compare: "
                     "freshness unknown")
    status = base_eol.check(distro, table, today=req.today)
    advice = None
    if req.advice and fresh is not None and not fresh.up_to_date:
        path = db_path(req.db)
        if identity.layers is None:
            notes.append("rebuild advice skipped: which layers of the image are the base's is unknown")
        elif req.db is None and not path.exists():
            notes.append(f"rebuild advice skipped: no advisory database at {path} "
                         "(run 'hullcheck db update' or pass --db)")
        else:
            candidate = f"{fresh.tag}@{fresh.current_digest}"
            mine = scan(ScanRequest(target=req.image, db=path, platform=req.platform, pull=req.pull,
                                    today=req.today))
            theirs = scan(ScanRequest(target=f"registry:{candidate}", db=path,
                                      platform=req.platform, pull=req.pull, today=req.today))
            advice = base_advice.advise(mine.findings, base_layers=identity.layers,
                                        candidate_findings=theirs.findings,
                                        base=identity.reference, candidate=candidate)
    return BaseAssessment(image=image.source, distro=distro, identity=identity, eol=status,
                          trust=verdict, freshness=fresh, advice=advice, notes=tuple(notes))


def base_failures(a: BaseAssessment, *, fail_untrusted: bool, max_age: int | None,
                  fail_eol: bool) -> list[str]:
    """The ``base --fail-*`` conditions that hold, each as a sentence."""
    from hullcheck.base.model import TrustState

    out = []
    if fail_untrusted and (a.trust is None or a.trust.state is not TrustState.TRUSTED):
        state = a.trust.state.value if a.trust else "unknown"
        reason = a.trust.reason if a.trust else "no trust verdict"
        out.append(f"base is {state}: {reason}")
    if max_age is not None:
        # Fail closed, as the policy gate does: an age that cannot be known cannot be within
        # the limit.
        behind = a.freshness.days_behind if a.freshness is not None else None
        if behind is None:
            out.append(f"how far the base is behind its tag is unknown (--max-age {max_age}): "
                       "no base identified, or its tag could not be resolved")
        elif behind > max_age:
            tag = a.freshness.tag if a.freshness is not None else ""
            out.append(f"base is {behind} days behind {tag} (--max-age {max_age})")
    if fail_eol and a.eol.past_security_support:
        out.append(a.eol.reason)
    return out
