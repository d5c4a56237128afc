"""Scanning: an inventory (image, SBOM file or verified attestation) matched against the
advisory database, VEX/ignore marks, and the secret and configuration scanners on the same
read of the layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.errors import FormatError, UsageError
from hullcheck.image import PullOptions
from hullcheck.model import Inventory
from hullcheck.pipeline.images import (
    Progress,
    SbomRequest,
    _check_scope,
    _redact_config,
    read_image,
)
from hullcheck.pipeline.inventory import inventory
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.misconfig import ConfigReport
    from hullcheck.report import ScanReport
    from hullcheck.secrets import SecretReport

# -- scan -------------------------------------------------------------------------------

MAX_SBOM = 512 << 20  # the SBOM decoder's own limit (sbom._reader.MAX_DOCUMENT_BYTES)
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
    from_attestation: Path | Keyless | None = None  # a public key, or keyless identities


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
    from hullcheck import sbom, untrusted

    return sbom.decode(untrusted.read_file(path, what="SBOM", limit=MAX_SBOM), name=str(path))


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
    from hullcheck.report import ScanReport
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
