"""What the secret scanner reports. The secret itself never enters these types: only a
redacted form of the match does."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hullcheck.model import ImageSource, Layer, Severity


class Origin(StrEnum):
    """Where in the image the secret sits."""

    FILE = "file"  # a file of a layer (path is the file's)
    ENV = "env"  # config Env (path is "config:Env/NAME")
    LABEL = "label"  # config Labels ("config:Labels/KEY")
    COMMAND = "command"  # config Cmd / Entrypoint
    HISTORY = "history"  # history created_by: build args and RUN lines ("config:history/N")


class Confidence(StrEnum):
    """How likely a match is a live secret rather than an example."""

    HIGH = "high"
    # In a language package's tests, examples or documentation (site-packages/*/tests/, a
    # README, a .d.ts): reported, since a real key can sit there too, but likely an example.
    LOW = "low"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretFinding:
    rule_id: str
    title: str
    severity: Severity
    origin: Origin
    path: str
    line: int  # 1-based
    match: str  # the match with the secret redacted (first characters + "*****")
    layer: Layer | None = None  # the layer that wrote the file (or made the history entry)
    deleted_by: Layer | None = None  # the layer that deleted or replaced the file
    visible: bool = True  # still in the final file system (config entries always are)
    confidence: Confidence = Confidence.HIGH
    why_low: str = ""  # why the confidence is low ("" when high)


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """Files not scanned, by reason (counts)."""

    binary: int = 0  # NUL byte in the first 8 KiB, or a known binary extension
    too_large: int = 0  # over the size limit
    allowlisted: int = 0  # path on the allow-list
    # Files an OS package installed, their content as its database recorded it (dpkg md5sums,
    # apk and rpm digests): the distro's files, whose matches are not reported (unless the
    # scan includes package files). Counted among the files scanned, not in ``total``.
    package_files: int = 0
    package_matches: int = 0  # the matches in them, not reported

    @property
    def total(self) -> int:
        return self.binary + self.too_large + self.allowlisted


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretReport:
    source: ImageSource
    layers: tuple[Layer, ...]
    findings: tuple[SecretFinding, ...]
    skipped: Skipped
    files_scanned: int = 0
    bytes_scanned: int = 0
    engine: str = ""  # "hyperscan" or "re"
