"""The report types: what a command (and the service's web pages) shows about one image.

Each holds other rooms' results as they are, frozen; the renderers (``report.table``,
``.json``, ``.sarif``, ``.junit``, ``.cyclonedx``) read them and nothing else. A secrets-only
or config-only report is the scanner's own ``SecretReport`` or ``ConfigReport``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from hullcheck.model import Inventory, Package, Severity

# The rooms whose results these hold are imported for type checking only: every command
# imports ``report`` to list its formats, and the advisory model and policy are heavy.
if TYPE_CHECKING:
    from hullcheck.base.model import BaseAssessment, CatalogEntry
    from hullcheck.match.model import Finding, Skipped
    from hullcheck.misconfig import ConfigFinding, ConfigReport
    from hullcheck.policy import Decision, Policy
    from hullcheck.secrets.model import SecretFinding, SecretReport


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    """What each scanner found in one image (or SBOM): vulnerability findings, secrets (always
    redacted: the secrets room never hands out the secret itself), failed configuration checks.

    The vulnerability findings follow the inventory's scope, as its SBOM does: "squashed"
    lists those of the packages a container sees and counts (``hidden_findings``) those of the
    packages shipped but not visible; "all-layers" lists both, the latter marked by their
    package's visibility. Every format renders the same list.
    """

    inventory: Inventory
    findings: tuple[Finding, ...]  # shown findings (after --only-fixed), suppressed ones marked
    skipped: tuple[Skipped, ...]
    database: dict[str, Any] | None  # builtAt, schemaVersion, path; None: no vuln scanner
    notes: tuple[str, ...] = ()
    secrets: SecretReport | None = None  # None: the secret scanner did not run
    config: ConfigReport | None = None  # None: the config checks did not run
    scanners: tuple[str, ...] = ("vuln",)
    # Findings on packages shipped but not visible: in "squashed" scope counted, not listed;
    # in "all-layers" listed (and this many of ``findings`` are theirs).
    hidden_findings: int = 0

    @property
    def active(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def packages(self) -> tuple[Package, ...]:
        """The packages of the scope: those a container sees, or (all-layers) every one."""
        inv = self.inventory
        return inv.packages if inv.scope == "all-layers" else inv.visible

    def fails(self, threshold: Severity | None, *, unknown: bool = False) -> bool:
        """Whether an active finding of any scanner is at or over ``threshold``; with
        ``unknown``, a vulnerability of unknown severity (no rating anywhere) fails too."""
        if unknown and any(f.severity is Severity.UNKNOWN for f in self.active):
            return True
        if threshold is None:
            return False
        severities = [f.severity for f in self.active]
        severities += [f.severity for f in self.secret_findings]
        severities += [f.severity for f in self.config_findings]
        return any(s >= threshold for s in severities)

    @property
    def secret_findings(self) -> tuple[SecretFinding, ...]:
        return self.secrets.findings if self.secrets is not None else ()

    @property
    def config_findings(self) -> tuple[ConfigFinding, ...]:
        """The failed checks."""
        return self.config.findings if self.config is not None else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyReport:
    """A decision, and the policy it was made by (its rules name the SARIF rules and the JUnit
    test cases, passed ones too); without the policy only the violated rules are known."""

    decision: Decision
    policy: Policy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseReport:
    """A base-image assessment and the ``--fail-*`` conditions that hold, each a sentence."""

    assessment: BaseAssessment
    failures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseCatalog:
    """The bases recorded in the base catalog."""

    entries: tuple[CatalogEntry, ...]


Report: TypeAlias = ("ScanReport | SecretReport | ConfigReport | PolicyReport | BaseReport"
                     " | BaseCatalog | Inventory")
