"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
    Inventory (or a decoded SBOM) + VulnStore ─match()─► findings ─vex.apply()─► ScanReport
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hullcheck import catalog, filetree
from hullcheck.errors import FormatError, UsageError
from hullcheck.image import Image, Platform, PullOptions, open_image
from hullcheck.model import Inventory, Layer

if TYPE_CHECKING:  # scanning's rooms are imported when a scan runs, not by `hullcheck sbom`
    from hullcheck.report.findings import ScanReport

SCOPES = ("squashed", "all-layers")


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomRequest:
    image: str
    scope: str = "squashed"
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    max_file_size: int = filetree.DEFAULT_MAX_FILE
    # Take the SBOM from a CycloneDX/SPDX attestation verified with this public key instead
    # of reading the image's layers.
    from_attestation: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Callbacks the CLI uses to draw progress; the pipeline never prints."""

    on_image: Callable[[Image], None] | None = None
    on_layer: Callable[[Layer], None] | None = None


def _open(image: str, platform: str | None, pull: PullOptions,
          progress: Progress | None) -> Image:
    img = _redact_history(
        open_image(image, platform=Platform.parse(platform) if platform else None, pull=pull))
    if progress is not None and progress.on_image is not None:
        progress.on_image(img)
    return img


def _redactor() -> Callable[[str], str]:
    from hullcheck.secrets.scanner import Scanner

    return Scanner(engine="python").redact_text


def _redact_history(image: Image) -> Image:
    """Secrets in build steps (``RUN TOKEN=... make``) are redacted in the layers'
    ``created_by`` lines, which every output shows. The raw config stays for the secret
    scanner, which reports them (redacted too)."""
    if not any(la.created_by for la in image.layers):
        return image
    redact = _redactor()
    layers = tuple(dataclasses.replace(la, created_by=redact(la.created_by))
                   for la in image.layers)
    return dataclasses.replace(image, layers=layers)


def _redact_config(report: ConfigReport) -> ConfigReport:
    """Configuration evidence quotes history lines: the same redaction applies."""
    redact = _redactor()
    results = tuple(dataclasses.replace(r, evidence=tuple(redact(e) for e in r.evidence))
                    for r in report.results)
    return dataclasses.replace(report, results=results)


class ImageRead(NamedTuple):
    image: Image
    tree: filetree.FileTree
    streamed: catalog.Streamed | None  # binaries found outside the globs (None: not looked)
    # sha256 of Python package files that streamed by: RECORD rows checked by hash
    digests: dict[tuple[int, str], str]

    def inventory(self, scope: str) -> Inventory:
        return catalog.run(self.tree, self.image.source, scope=scope, streamed=self.streamed,
                           digests=self.digests)


def read_image(req: SbomRequest, progress: Progress | None = None, *,
               sink: filetree.ContentSink | None = None,
               globs: tuple[str, ...] | None = None) -> ImageRead:
    """Open the image and read its layers once: the files of ``globs`` (default: what the
    catalogers want) are kept in the tree, and ``sink`` sees every file of every layer on
    the way. By default (for ``catalog.run``) a ``catalog.BinarySink`` also sees them and
    catalogs executables anywhere by content, keeping only what it found.
    ``inventory`` and ``scan`` both read images through here."""
    from hullcheck.catalog.python import RecordDigests

    image = _open(req.image, req.platform, req.pull, progress)
    binaries = catalog.BinarySink(kept_up_to=req.max_file_size) if globs is None else None
    records = RecordDigests() if globs is None else None
    sinks = [s for s in (sink, binaries, records) if s is not None]
    # Every sink is fed from the one read.
    combined = sinks[0] if len(sinks) == 1 else filetree.FanOut(*sinks) if sinks else None
    tree = filetree.build(image, catalog.globs_for() if globs is None else globs,
                          max_file=req.max_file_size, sink=combined,
                          on_layer=progress.on_layer if progress is not None else None)
    return ImageRead(image, tree, binaries.results() if binaries is not None else None,
                     records.digests if records is not None else {})


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}: choose one of {', '.join(SCOPES)}")


def inventory(req: SbomRequest, progress: Progress | None = None) -> Inventory:
    _check_scope(req.scope)
    if req.from_attestation is not None:
        return inventory_from_attestation(req.image, req.from_attestation, req.pull)
    return read_image(req, progress).inventory(req.scope)


# -- scan -------------------------------------------------------------------------------

MAX_SBOM = 512 << 20
SCANNERS = ("vuln", "secret", "config")  # vulnerabilities, secrets in layers, image config
IMAGE_SCANNERS = frozenset({"secret", "config"})  # these need the image itself


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRequest:
    target: str  # an image, or a CycloneDX / SPDX / hullcheck JSON SBOM file
    db: Path | None = None
    scope: str = "squashed"
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    vex: tuple[Path, ...] = ()
    ignore: Path | None = None
    only_fixed: bool = False
    today: date = field(default_factory=date.today)
    scanners: tuple[str, ...] = ("vuln",)  # any of SCANNERS
    secret_config: Path | None = None  # YAML: user secret rules and allow-lists
    # Take the inventory from a CycloneDX/SPDX attestation verified with this public key
    # instead of reading the image's layers (vulnerabilities only).
    from_attestation: Path | None = None


_SNIFF = 4096


def _sbom_file(target: str) -> Path | None:
    """The target as an SBOM file path, when it is one: a regular file holding a JSON object
    (after an optional UTF-8 byte order mark and white space). Image archives are tar files
    and image layouts are directories, so they never look like this."""
    path = Path(target.removeprefix("sbom:"))
    try:
        if not path.is_file():
            if target.startswith("sbom:"):
                raise FormatError(f"{path}: no such SBOM file")
            return None
        with path.open("rb") as f:
            head = f.read(_SNIFF)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{"):
        return path
    if head.startswith(b"<"):
        raise FormatError(f"{path}: an XML document; scan reads CycloneDX or SPDX JSON SBOMs",
                          hint="produce one with 'hullcheck sbom IMAGE -o cyclonedx-json'")
    if target.startswith("sbom:"):
        raise FormatError(f"{path}: not a JSON SBOM")
    return None


def _decode_sbom(path: Path) -> Inventory:
    from hullcheck import sbom

    if path.stat().st_size > MAX_SBOM:
        raise FormatError(f"{path}: SBOM larger than {MAX_SBOM} bytes")
    return sbom.decode(path.read_bytes(), name=str(path))


def _scanners(req: ScanRequest) -> frozenset[str]:
    """The requested scanners, checked against what the target can give (usage errors)."""
    chosen = frozenset(req.scanners)
    unknown = sorted(chosen - set(SCANNERS))
    if unknown or not chosen:
        raise UsageError(f"--scanners: unknown scanner {', '.join(unknown) or '(none)'!r}: "
                         f"choose from {','.join(SCANNERS)}")
    _check_scope(req.scope)
    image_only = sorted(chosen & IMAGE_SCANNERS)
    if image_only and req.from_attestation is not None:
        raise UsageError(f"--scanners {','.join(image_only)} reads the image's layers and "
                         "config; --from-attestation reads only its SBOM",
                         hint="run the vulnerability scan from the attestation and "
                              f"'hullcheck scan IMAGE --scanners {','.join(image_only)}' apart")
    if image_only and _sbom_file(req.target) is not None:
        raise UsageError(f"--scanners {','.join(image_only)} needs an image; "
                         f"{req.target} is an SBOM file (it holds packages only)",
                         hint="scan the image itself, or use --scanners vuln")
    return chosen


def load_inventory(req: ScanRequest, progress: Progress | None = None) -> Inventory:
    """The packages to match: from an SBOM file, a verified attestation, or the image."""
    sbom_path = _sbom_file(req.target)
    if sbom_path is not None:
        if req.from_attestation is not None:
            raise UsageError(f"--from-attestation verifies an image's attestation; "
                             f"{req.target} is an SBOM file")
        return _decode_sbom(sbom_path)
    return inventory(SbomRequest(image=req.target, scope=req.scope, platform=req.platform,
                                 pull=req.pull, from_attestation=req.from_attestation), progress)


def _read_for_scan(req: ScanRequest, scanners: frozenset[str], progress: Progress | None
                   ) -> tuple[Inventory, SecretReport | None, ConfigReport | None]:
    """One read of the image for every scanner: the catalogers' files are kept, the secret
    scanner sees every file of every layer on the way, the config checks use the headers."""
    if not scanners & IMAGE_SCANNERS:
        return load_inventory(req, progress), None, None
    from hullcheck import misconfig, secrets

    scanner = None
    if "secret" in scanners:
        cfg = (secrets.load_config(req.secret_config) if req.secret_config is not None
               else secrets.SecretConfig())
        scanner = secrets.Scanner(cfg)
    vuln = "vuln" in scanners
    read = read_image(SbomRequest(image=req.target, scope=req.scope, platform=req.platform,
                                  pull=req.pull), progress, sink=scanner,
                      globs=None if vuln else ())
    image, tree = read.image, read.tree
    inv = (read.inventory(req.scope) if vuln
           else Inventory(source=image.source, layers=tree.layers, scope=req.scope))
    secret_report = scanner.report(tree, image) if scanner is not None else None
    config_report = _redact_config(misconfig.run(image, tree)) if "config" in scanners else None
    return inv, secret_report, config_report


def scan(req: ScanRequest, progress: Progress | None = None) -> ScanReport:
    from hullcheck import match, vex
    from hullcheck.match.model import Status
    from hullcheck.report.findings import ScanReport
    from hullcheck.vulndb import VulnStore, db_path

    scanners = _scanners(req)
    if "vuln" not in scanners:
        inv, secret_report, config_report = _read_for_scan(req, scanners, progress)
        return ScanReport(inventory=inv, findings=(), skipped=(), database=None,
                          secrets=secret_report, config=config_report,
                      scanners=tuple(s for s in SCANNERS if s in scanners))
    path = db_path(req.db)
    statements = [st for p in req.vex for st in vex.load_vex(p)]
    rules = vex.load_ignore(req.ignore) if req.ignore else []
    with VulnStore.open(path) as store:  # fail fast, before reading the image
        status = store.status()
        inv, secret_report, config_report = _read_for_scan(req, scanners, progress)
        result = match.match(inv, store)
        shown = match.with_summaries(result.findings, store)
    image_ids = [i for i in (inv.source.manifest_digest, inv.source.config_digest,
                             *inv.source.repo_digests) if i]
    findings, notes = vex.apply(shown, statements, rules, today=req.today,
                                image_ids=image_ids)
    if req.only_fixed:  # a malicious package has no fix but removal: always shown
        findings = [f for f in findings if f.status in (Status.FIXED, Status.MALICIOUS)]
    database = {"path": str(path), "builtAt": status.built_at,
                "schemaVersion": status.schema_version, "advisories": status.advisories}
    return ScanReport(inventory=inv, findings=tuple(findings), skipped=result.skipped,
                      database=database, notes=tuple(notes), secrets=secret_report,
                      config=config_report,
                      scanners=tuple(s for s in SCANNERS if s in scanners))


# -- base images ------------------------------------------------------------------------
# Image + registry + findings ─base.*─► BaseAssessment; ``hullcheck base`` calls these.

from collections.abc import Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

if TYPE_CHECKING:
    from hullcheck.base.model import BaseAssessment, CatalogEntry
    from hullcheck.base.trust import SignatureVerifier
    from hullcheck.model import Distro
    from hullcheck.registry.reference import Reference


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
    """The distro from the image's os-release, reading only the few files that say it."""
    from hullcheck.catalog import distro as _distro

    return _distro.detect(filetree.build(image, _distro.GLOBS).view())


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


def signature_verifier(pull: PullOptions) -> SignatureVerifier | None:
    """The sign room's key-based image verification, shaped for base.trust; None while the sign
    room has no public image verifier (trust then reports 'unknown' for key-pinned sources)."""
    from hullcheck.base import signature

    return signature.verifier(pull)


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


# -- signatures and attestations: types ---------------------------------------------------

from typing import TypeVar  # noqa: E402

if TYPE_CHECKING:
    from hullcheck.sign.cosign import Attached, VerifiedAttestation, VerifiedSignature
    from hullcheck.sign.store import Target

_T = TypeVar("_T")


# -- signatures and attestations (cosign-compatible) ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SignRequest:
    image: str  # a registry reference or oci:DIR[:TAG]
    key: Path  # private key: cosign-encrypted or PKCS#8 PEM
    password: Callable[[], bytes]  # asked only for an encrypted key
    pull: PullOptions = field(default_factory=PullOptions)
    annotations: tuple[tuple[str, str], ...] = ()
    bundle: bool = False  # also attach a cosign 3 Sigstore bundle through the referrers API


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestRequest:
    image: str
    key: Path
    password: Callable[[], bytes]
    predicate_type: str  # a URI (see sign.intoto.predicate_type for cosign's --type names)
    predicate: Path | None = None  # JSON file; None with sbom=True
    sbom: bool = False  # generate a CycloneDX SBOM of the image as the predicate
    scan: bool = False  # scan the image and attest the result (cosign's vuln predicate)
    db: Path | None = None  # advisory database for scan=True
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)


def _with_target(image: str, pull: PullOptions, action: Callable[..., _T]) -> _T:
    """Run ``action(target)`` on the resolved image, closing the registry client after."""
    from hullcheck.image import split_source
    from hullcheck.sign.store import open_target

    if split_source(image)[0] != "registry":
        return action(open_target(image))
    from hullcheck.image.remote import make_client

    with make_client(pull) as client:
        return action(open_target(image, client=client))


def sign_image(req: SignRequest) -> Attached:
    from hullcheck.sign import cosign, keys

    key = keys.read_private_key(req.key, req.password)  # before any network traffic
    return _with_target(req.image, req.pull, lambda t: cosign.sign_image(
        t, key, annotations=dict(req.annotations), bundle=req.bundle))


def verify_image(image: str, public_key: Path, pull: PullOptions | None = None) -> VerifiedSignature:
    from hullcheck.sign import cosign, keys

    key = keys.read_public_key(public_key)
    return _with_target(image, pull or PullOptions(), lambda t: cosign.verify_image(t, key))


def attest_image(req: AttestRequest) -> Attached:
    import json

    from hullcheck.sign import cosign, intoto, keys

    key = keys.read_private_key(req.key, req.password)

    def attest(target: Target) -> Attached:
        if req.sbom:
            predicate = json.loads(attest_sbom(target, req.platform, req.pull))
        elif req.scan:
            predicate = attest_scan(target, req.platform, req.pull, req.db)
        elif req.predicate is not None:
            try:
                data = req.predicate.read_bytes()
            except OSError as exc:
                raise UsageError(f"--predicate {req.predicate}: {exc.strerror or exc}") from None
            predicate = intoto.load_predicate(data, what=str(req.predicate))
        else:
            raise UsageError("give the predicate with --predicate FILE, or --sbom")
        return cosign.attest_image(target, key, req.predicate_type, predicate)

    return _with_target(req.image, req.pull, attest)


def _pinned(target: Target) -> str:
    """The attested image, pinned to the digest the attestation is about."""
    from hullcheck.image import split_source

    scheme, rest = split_source(target.name)
    return f"{rest.split('@', 1)[0]}@{target.digest}" if scheme == "registry" else target.name


def attest_scan(target: Target, platform: str | None, pull: PullOptions,
                db: Path | None) -> dict[str, object]:
    """cosign's vulnerability attestation predicate (``https://cosign.sigstore.dev/
    attestation/vuln/v1``) for exactly the attested image: scanner, database, the scan
    result (hullcheck's scan JSON) and when it ran."""
    from datetime import datetime

    from hullcheck import __version__
    from hullcheck.report.findings import to_json

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = scan(ScanRequest(target=_pinned(target), db=db, platform=platform, pull=pull))
    if report.inventory.source.manifest_digest not in ("", target.digest):
        raise UsageError(f"{target.name}: scanned {report.inventory.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    database = report.database or {}
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:pypi/hullcheck",
            "version": __version__,
            "db": {"uri": str(database.get("path", "")), "version": str(database.get("builtAt", ""))},
            "result": to_json(report),
        },
        "metadata": {"scanStartedOn": started, "scanFinishedOn": finished},
    }


def attest_sbom(target: Target, platform: str | None, pull: PullOptions) -> bytes:
    """A CycloneDX JSON SBOM of exactly the attested image (pinned to its digest)."""
    from hullcheck import sbom

    image = _pinned(target)
    inv = inventory(SbomRequest(image=image, platform=platform, pull=pull))
    if inv.source.manifest_digest not in ("", target.digest) and image == target.name:
        raise UsageError(f"{target.name}: the SBOM was read from {inv.source.manifest_digest}, "
                         f"not the attested {target.digest}")
    return sbom.encode(inv, "cyclonedx-json")


def verify_attestation(
    image: str, public_key: Path, predicate_type: str | None = None, pull: PullOptions | None = None
) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.sign import cosign, keys

    key = keys.read_public_key(public_key)
    return _with_target(image, pull or PullOptions(),
                        lambda t: cosign.verify_attestations(t, key, predicate_type))


# -- policy: evidence from every room, then a pure decision -----------------------------------

if TYPE_CHECKING:
    from hullcheck.policy import Decision, Evidence, Policy


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


def _published_dates(findings: Sequence[object], db: Path | None) -> dict[str, date]:
    """Advisory publication dates for the findings' evidence records."""
    from hullcheck.vulndb import VulnStore, db_path

    out: dict[str, date] = {}
    with VulnStore.open(db_path(db)) as store:
        for f in findings:
            for ev in getattr(f, "evidence", ()):
                if ev.advisory in out:
                    continue
                adv = store.advisory(ev.advisory)
                day = _iso_day(adv.published) if adv is not None and adv.published else None
                if day is not None:
                    out[ev.advisory] = day
    return out


def gather_evidence(req: EvidenceRequest, progress: Progress | None = None) -> Evidence:
    from hullcheck import policy as pol
    from hullcheck.errors import VerificationError
    from hullcheck.policy import Need
    from hullcheck.policy import evidence as ev

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
            secrets = ev.secrets_from(report.secrets.findings)
        if report.config is not None:
            config = ev.config_from(report.config.findings)
    if report is not None and Need.VULNERABILITIES in req.needs:
        inv = report.inventory
        vulns = ev.from_findings(report.findings, _published_dates(report.findings, req.db))
        notes.extend(report.notes)
    elif Need.PACKAGES in req.needs:
        inv = inventory(SbomRequest(image=target, platform=req.platform, pull=req.pull), progress)
    elif report is not None:
        inv = report.inventory
    else:
        inv = Inventory(source=_open(target, req.platform, req.pull, None).source)
    image_ev = ev.image_from(inv, shown)
    if image_ev.digest == "" and "@" in target:
        image_ev = pol.ImageEvidence(ref=shown, digest=target.rsplit("@", 1)[1])
    if Need.PACKAGES in req.needs or Need.VULNERABILITIES in req.needs:
        packages = ev.from_inventory(inv)
    if Need.SIGNATURES in req.needs:
        if not req.keys:
            notes.append("signatures: the policy names no public key file to verify with "
                         "(keys given by fingerprint only cannot verify)")
        else:
            found = []
            for key in req.keys:
                try:
                    found.append(verify_image(target, key, req.pull))
                except VerificationError:
                    continue  # not signed by this key: no evidence for it
            signatures = ev.signatures_from(found)
    if Need.ATTESTATIONS in req.needs:
        if not req.keys:
            notes.append("attestations: the policy names no public key file to verify with")
        else:
            atts = []
            for key in req.keys:
                for ptype in req.attestation_types or (None,):
                    try:
                        atts.extend(verify_attestation(target, key, ptype, req.pull))
                    except VerificationError:
                        continue
            attestations = ev.attestations_from(atts)
    if Need.BASE in req.needs:
        assessment = assess_base(BaseRequest(image=target, catalog=req.base_catalog,
                                             trust=req.base_trust, db=req.db,
                                             platform=req.platform, pull=req.pull,
                                             today=req.today, advice=False))
        base = ev.base_from(assessment)
        notes.extend(f"base: {n}" for n in assessment.notes)
    return pol.Evidence(image=image_ev, packages=packages, vulnerabilities=vulns, secrets=secrets,
                        config=config, signatures=signatures, attestations=attestations,
                        base=base, notes=tuple(notes))


def evidence_request(policy: Policy, image: str, **options: object) -> EvidenceRequest:
    """What ``policy`` needs gathered about ``image``."""
    return EvidenceRequest(image=image, needs=frozenset(n.value for n in policy.needs()),
                           keys=tuple(Path(k) for k in policy.verification_keys()),
                           attestation_types=policy.attestation_types(),
                           **options)  # type: ignore[arg-type]


def policy_check(policy: Policy, req: EvidenceRequest, progress: Progress | None = None
                 ) -> tuple[Evidence, Decision]:
    from hullcheck.policy import evaluate

    evidence = gather_evidence(req, progress)
    return evidence, evaluate(evidence, policy, now=req.today)


# -- secrets and image configuration ----------------------------------------------------
# (rooms imported when the command runs, like scan's)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretsRequest:
    image: str
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    config: Path | None = None  # YAML: user rules and allow-lists
    engine: str | None = None  # keyword prefilter engine; None: the fastest available


def secrets_scan(req: SecretsRequest, progress: Progress | None = None) -> SecretReport:
    """Every file of every layer (deleted ones too), plus Env, Labels and history."""
    from hullcheck import secrets

    cfg = secrets.load_config(req.config) if req.config is not None else secrets.SecretConfig()
    image = _open(req.image, req.platform, req.pull, progress)
    on_layer = progress.on_layer if progress is not None else None
    report, _ = secrets.scan_image(image, cfg, engine=req.engine, on_layer=on_layer)
    return report


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRequest:
    image: str
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)


def config_check(req: ConfigRequest, progress: Progress | None = None) -> ConfigReport:
    """Every image configuration check (config, history, annotations, file modes)."""
    from hullcheck import misconfig

    # Headers only (paths, modes): no file's bytes are kept.
    read = read_image(SbomRequest(image=req.image, platform=req.platform, pull=req.pull),
                      progress, globs=())
    return _redact_config(misconfig.run(read.image, read.tree))


if TYPE_CHECKING:
    from hullcheck.misconfig import ConfigReport
    from hullcheck.secrets import SecretReport


# -- SBOMs from attestations ------------------------------------------------------------------

SBOM_PREDICATES = ("https://cyclonedx.org/bom", "https://spdx.dev/Document")


def inventory_from_attestation(image: str, public_key: Path, pull: PullOptions) -> Inventory:
    """The inventory of a CycloneDX (preferred) or SPDX attestation of ``image`` that verifies
    with ``public_key`` (signature, subject digest and predicate type all checked)."""
    import json

    from hullcheck import sbom
    from hullcheck.errors import VerificationError

    found = [a for t in SBOM_PREDICATES for a in _attestations_or_none(image, public_key, t, pull)]
    if not found:
        raise VerificationError(
            f"{image}: no CycloneDX or SPDX attestation verifies with {public_key}",
            hint="attach one with 'hullcheck attest IMAGE --key KEY --type cyclonedx --sbom'",
        )
    att = found[0]
    data = json.dumps(att.predicate).encode()
    inv = sbom.decode(data, name=f"{image} attestation {att.predicate_type}")
    digest = att.digest
    source = dataclasses.replace(inv.source, name=image,
                                 manifest_digest=inv.source.manifest_digest or digest)
    return dataclasses.replace(inv, source=source)


def _attestations_or_none(image: str, key: Path, predicate_type: str,
                          pull: PullOptions) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.errors import VerificationError

    try:
        return tuple(verify_attestation(image, key, predicate_type, pull))
    except VerificationError:
        return ()
