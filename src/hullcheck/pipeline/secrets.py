"""The secret scanner and the configuration checks on their own."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck import catalog
from hullcheck.catalog import license as catalog_license
from hullcheck.image import PullOptions
from hullcheck.pipeline.images import Progress, SbomRequest, _redact_config, read_image
from hullcheck.pipeline.scan import package_databases, secret_report

if TYPE_CHECKING:
    from hullcheck.catalog import Cataloger
    from hullcheck.misconfig import ConfigReport
    from hullcheck.secrets import SecretReport

# -- secrets and image configuration ----------------------------------------------------
# (rooms imported when the command runs, like scan's)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretsRequest:
    image: str
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)
    config: Path | None = None  # YAML: user rules and allow-lists
    engine: str | None = None  # keyword prefilter engine; None: the fastest available
    # Report matches in OS packages' unchanged files too (by default counted, not reported).
    include_package_files: bool = False


def secrets_scan(req: SecretsRequest, progress: Progress | None = None) -> SecretReport:
    """Every file of every layer (deleted ones too), plus Env, Labels and history; when a
    file matched, the package databases are read (their files' digests, not licences) to
    tell the distro's files."""
    from hullcheck import secrets

    cfg = secrets.load_config(req.config) if req.config is not None else secrets.SecretConfig()
    scanner = secrets.Scanner(cfg, engine=req.engine)
    # The catalogers' globs, as sbom's and config's reads: the layers' entries are shared
    # in the layer cache, only the secret scanner's findings are its own. The package
    # databases among those files say which files the distro installed unchanged.
    databases: Sequence[Cataloger] = () if req.include_package_files else package_databases()
    read = read_image(SbomRequest(image=req.image, platform=req.platform, pull=req.pull),
                      progress, sink=scanner, catalog_sinks=False, meanwhile=_report_room)
    inventory = None
    if databases and scanner.found_in_files:  # else no match for them to tell apart
        with catalog_license.unread():  # their files' digests are wanted, not licences
            inventory = catalog.run(read.tree, read.image.source, catalogers=databases)
    return secret_report(scanner, read.tree, read.image, inventory)


def _report_room() -> None:
    """The report room the findings are rendered with, imported while the layers' workers
    read (its ~6 ms of imports, and misconfig's, are not before the first one starts)."""
    importlib.import_module("hullcheck.report")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigRequest:
    image: str
    platform: str | None = None
    pull: PullOptions = field(default_factory=PullOptions)


def config_check(req: ConfigRequest, progress: Progress | None = None) -> ConfigReport:
    """Every image configuration check (config, history, annotations, file modes)."""
    from hullcheck import misconfig

    # Headers (paths, modes) are what the checks read; with the catalogers' globs, as sbom's
    # read, the layer cache serves the one to the other.
    read = read_image(SbomRequest(image=req.image, platform=req.platform, pull=req.pull),
                      progress, catalog_sinks=False)
    return _redact_config(misconfig.run(read.image, read.tree))
