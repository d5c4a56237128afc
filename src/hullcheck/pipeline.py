"""The one place that composes the rooms. The CLI and the server call this, nothing else.

    "IMAGE" ─image.open_image()─► Image ─filetree.build()─► FileTree ─catalog.run()─► Inventory
    Inventory (or a decoded SBOM) + VulnStore ─match()─► findings ─vex.apply()─► ScanReport
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Callbacks the CLI uses to draw progress; the pipeline never prints."""

    on_image: Callable[[Image], None] | None = None
    on_layer: Callable[[Layer], None] | None = None


def inventory(req: SbomRequest, progress: Progress | None = None) -> Inventory:
    if req.scope not in SCOPES:
        raise UsageError(f"unknown scope {req.scope!r}: choose one of {', '.join(SCOPES)}")
    platform = Platform.parse(req.platform) if req.platform else None
    image = open_image(req.image, platform=platform, pull=req.pull)
    progress = progress or Progress()
    if progress.on_image is not None:
        progress.on_image(image)
    tree = filetree.build(
        image, catalog.globs_for(), max_file=req.max_file_size, on_layer=progress.on_layer
    )
    return catalog.run(tree, image.source, scope=req.scope)


# -- scan -------------------------------------------------------------------------------

MAX_SBOM = 512 << 20


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


def load_inventory(req: ScanRequest, progress: Progress | None = None) -> Inventory:
    sbom_path = _sbom_file(req.target)
    if sbom_path is not None:
        from hullcheck import sbom

        if sbom_path.stat().st_size > MAX_SBOM:
            raise FormatError(f"{sbom_path}: SBOM larger than {MAX_SBOM} bytes")
        return sbom.decode(sbom_path.read_bytes(), name=str(sbom_path))
    return inventory(SbomRequest(image=req.target, scope=req.scope, platform=req.platform,
                                 pull=req.pull), progress)


def scan(req: ScanRequest, progress: Progress | None = None) -> ScanReport:
    from hullcheck import match, vex
    from hullcheck.match.model import Status
    from hullcheck.report.findings import ScanReport
    from hullcheck.vulndb import VulnStore, db_path

    path = db_path(req.db)
    statements = [st for p in req.vex for st in vex.load_vex(p)]
    rules = vex.load_ignore(req.ignore) if req.ignore else []
    with VulnStore.open(path) as store:  # fail fast, before reading the image
        status = store.status()
        inv = load_inventory(req, progress)
        result = match.match(inv, store)
    image_ids = [i for i in (inv.source.manifest_digest, inv.source.config_digest,
                             *inv.source.repo_digests) if i]
    findings, notes = vex.apply(result.findings, statements, rules, today=req.today,
                                image_ids=image_ids)
    if req.only_fixed:
        findings = [f for f in findings if f.status is Status.FIXED]
    database = {"path": str(path), "builtAt": status.built_at,
                "schemaVersion": status.schema_version, "advisories": status.advisories}
    return ScanReport(inventory=inv, findings=tuple(findings), skipped=result.skipped,
                      database=database, notes=tuple(notes))
