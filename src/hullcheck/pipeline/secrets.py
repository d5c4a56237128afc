"""The secret scanner and the configuration checks on their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hullcheck.image import PullOptions
from hullcheck.pipeline.images import Progress, SbomRequest, _open, _redact_config, read_image

if TYPE_CHECKING:
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
