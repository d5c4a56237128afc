"""Scanning: an inventory (image, SBOM file or verified attestation) matched against the
advisory database, VEX/ignore marks, and the secret and configuration scanners on the same
read of the layers (the secret scanner told what the package databases recorded of their
files, to leave the distro's unchanged files out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck import catalog
from hullcheck.ecosystem import is_os, osv_ecosystem
from hullcheck.errors import FormatError, UsageError
from hullcheck.filetree import FileTree
from hullcheck.image import PullOptions
from hullcheck.model import Inventory, PackageType, Visibility
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
    from hullcheck import secrets
    from hullcheck.catalog import Cataloger
    from hullcheck.image import Image
    from hullcheck.match.model import Finding
    from hullcheck.misconfig import ConfigReport
    from hullcheck.report import ScanReport
    from hullcheck.secrets import SecretReport
    from hullcheck.vulndb.store import DbStatus

# -- what the package databases say of their files, for the secret scanner ----------------

# The catalogers of OS package databases: what these record of each file's content tells the
# distro's files from the user's.
PACKAGE_DATABASES = ("dpkg-db", "apk-db", "rpm-db")


def package_databases() -> tuple[Cataloger, ...]:
    return tuple(c for c in catalog.CATALOGERS if c.name in PACKAGE_DATABASES)


def package_files(inventory: Inventory, tree: FileTree) -> dict[str, frozenset[str]]:
    """Each file OS packages own, at its path in the layers (directory links such as merged
    /usr's /bin -> usr/bin resolved), with the digests their databases recorded of it."""
    view = tree.view()
    parents: dict[str, str] = {}
    out: dict[str, set[str]] = {}
    for p in inventory.packages:
        if not is_os(p.type):
            continue
        for path, digest in p.file_digests:
            parent, _, base = ("/" + path.lstrip("/")).rpartition("/")
            real = parents.get(parent)
            if real is None:
                real = parents[parent] = (view.resolve(parent or "/") or parent).rstrip("/")
            out.setdefault(f"{real}/{base}", set()).add(digest.lower())
    return {path: frozenset(digests) for path, digests in out.items()}


def secret_report(scanner: secrets.Scanner, tree: FileTree, image: Image,
                  inventory: Inventory | None) -> SecretReport:
    """The scanner's findings; matches in the distro's unchanged files left out and counted
    when the inventory of the package databases is given (None: every match reported)."""
    files = package_files(inventory, tree) if inventory is not None else None
    return scanner.report(tree, image, package_files=files)

# -- scan -------------------------------------------------------------------------------

DB_MAX_AGE_DAYS = 5  # as Grype's default (120h): advisories change every day
MAX_SBOM = 512 << 20  # the SBOM decoder's own limit (sbom._reader.MAX_DOCUMENT_BYTES)
SCANNERS = ("vuln", "secret", "config")  # vulnerabilities, secrets in layers, image config
IMAGE_SCANNERS = frozenset({"secret", "config"})  # these need the image itself


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRequest:
    target: str  # an image, or an SBOM file (CycloneDX JSON/XML, SPDX or hullcheck JSON)
    db: Path | None = None
    scope: str = "squashed"
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    vex: tuple[Path, ...] = ()
    ignore: Path | tuple[Path, ...] | None = None  # hullcheck's, Trivy's or Grype's files
    only_fixed: bool = False
    today: date = field(default_factory=date.today)
    # Warn when the advisory database was built more than this many days before ``today``
    # (None: never); and, always, when a distro release or ecosystem of the image has no
    # advisories in it at all.
    db_max_age: int | None = DB_MAX_AGE_DAYS
    scanners: tuple[str, ...] = ("vuln",)  # any of SCANNERS
    secret_config: Path | None = None  # YAML: user secret rules and allow-lists
    # Report secrets in OS packages' unchanged files too (by default counted, not reported).
    include_package_files: bool = False
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
        if b"cyclonedx.org/schema/bom" in head:  # CycloneDX XML, as 'sbom -o cyclonedx-xml'
            return path
        raise FormatError(f"{path}: an XML document that is not a CycloneDX BOM; scan reads "
                          "CycloneDX (JSON or XML) and SPDX JSON SBOMs",
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
    scanner sees every file of every layer on the way, the config checks use the headers.
    The secret scanner is told what the package databases recorded of their files."""
    if not scanners & IMAGE_SCANNERS:
        return load_inventory(req, progress), None, None
    from hullcheck import misconfig, secrets

    scanner = None
    if "secret" in scanners:
        cfg = (secrets.load_config(req.secret_config) if req.secret_config is not None
               else secrets.SecretConfig())
        scanner = secrets.Scanner(cfg)
    vuln = "vuln" in scanners
    databases = package_databases() if scanner is not None and not vuln else ()
    read = read_image(SbomRequest(image=req.target, scope=req.scope, platform=req.platform,
                                  pull=req.pull), progress, sink=scanner,
                      catalog_sinks=vuln)  # the catalogers' globs either way: cache shared
    image, tree = read.image, read.tree
    inv = (read.inventory(req.scope) if vuln
           else Inventory(source=image.source, layers=tree.layers, scope=req.scope))
    secret_report_ = None
    if scanner is not None:
        owners = None if req.include_package_files else (
            inv if vuln else catalog.run(tree, image.source, catalogers=databases))
        secret_report_ = secret_report(scanner, tree, image, owners)
    config_report = _redact_config(misconfig.run(image, tree)) if "config" in scanners else None
    return inv, secret_report_, config_report


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
    files = (req.ignore,) if isinstance(req.ignore, Path) else req.ignore or ()
    rules = [rule for p in files for rule in vex.load_ignore(p)]
    with VulnStore.open(path) as store:  # fail fast, before reading the image
        status = store.status()
        inv, secret_report, config_report = _read_for_scan(req, scanners, progress)
        result = match.match(inv, store)
        summarised = match.with_summaries(result.findings, store)
    image_ids = [i for i in (inv.source.manifest_digest, inv.source.config_digest,
                             *inv.source.repo_digests) if i]
    findings, notes = vex.apply(summarised, statements, rules, today=req.today,
                                image_ids=image_ids)
    if req.only_fixed:  # a malicious package has no fix but removal: always shown
        findings = [f for f in findings if f.status in (Status.FIXED, Status.MALICIOUS)]
    in_scope, hidden = _in_scope(inv, findings)
    notes = [*notes, *database_notes(inv, status, today=req.today, max_age=req.db_max_age)]
    skipped = tuple(s for s in result.skipped
                    if inv.scope == "all-layers" or s.package.visibility is Visibility.VISIBLE)
    database = {"path": str(path), "builtAt": status.built_at,
                "schemaVersion": status.schema_version, "advisories": status.advisories}
    return ScanReport(inventory=inv, findings=in_scope, skipped=skipped,
                      database=database, notes=tuple(notes), secrets=secret_report,
                      config=config_report, hidden_findings=hidden,
                      scanners=tuple(s for s in SCANNERS if s in scanners))


def database_notes(inv: Inventory, status: DbStatus, *, today: date,
                   max_age: int | None) -> list[str]:
    """What makes the database's silence untrustworthy for this image: its age over
    ``max_age`` days, and each distro release or ecosystem among the scope's packages that
    it holds no advisories for at all (findings for those would be missing, not absent)."""
    notes = []
    built = _built_on(status.built_at)
    if max_age is not None and built is not None and (today - built).days > max_age:
        notes.append(f"the advisory database was built {_n((today - built).days, 'day')} ago "
                     f"({status.built_at}), more than {max_age}: findings published since are "
                     "missing; run 'hullcheck db update' (--db-max-age sets the limit)")
    held = {eco for eco, count in status.ecosystems if count > 0}
    wanted: dict[str, int] = {}
    unmatched_os = 0
    packages = inv.packages if inv.scope == "all-layers" else inv.visible
    for p in packages:
        if p.owned_by or p.type is PackageType.BINARY:
            continue  # matched through their OS package, or not matched at all
        eco = osv_ecosystem(p.type, inv.distro)
        if eco:
            wanted[eco] = wanted.get(eco, 0) + 1
        elif is_os(p.type):
            unmatched_os += 1
    for eco, count in sorted(wanted.items()):
        if eco not in held:
            notes.append(f"no advisories for {eco.replace(':', ' ')} in this database: "
                         f"findings for its {_n(count, 'package')} would be missing")
    if unmatched_os:
        what = inv.distro.pretty_name or inv.distro.release if inv.distro else "an unknown distro"
        notes.append(f"no advisory source for {what}: its {_n(unmatched_os, 'OS package')} "
                     f"{'is' if unmatched_os == 1 else 'are'} not matched")
    return notes


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _built_on(built_at: str) -> date | None:
    try:
        return datetime.fromisoformat(built_at.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _in_scope(inv: Inventory, findings: Sequence[Finding]) -> tuple[tuple[Finding, ...], int]:
    """The findings the inventory's scope lists, as its SBOM lists packages ("squashed": those
    of visible packages; "all-layers": all), and how many are on packages shipped but not
    visible (listed in "all-layers" only, and marked there by their package)."""
    hidden = sum(1 for f in findings if f.package.visibility is not Visibility.VISIBLE)
    if inv.scope == "all-layers":
        return tuple(findings), hidden
    return tuple(f for f in findings if f.package.visibility is Visibility.VISIBLE), hidden
