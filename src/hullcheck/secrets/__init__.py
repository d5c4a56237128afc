"""Secrets in every layer of an image, and in its config and history.

    Image ─filetree.build(sink=Scanner)─► FileTree ─Scanner.report()─► SecretReport

``scan_image`` does both; ``Scanner`` plugs into a read the pipeline does anyway.
``report`` renders a SecretReport (table, JSON; SARIF within a scan).
"""

from hullcheck.model import Severity
from hullcheck.secrets.config import SecretConfig, load_config, parse_config
from hullcheck.secrets.engine import available as available_engines
from hullcheck.secrets.model import Confidence, Origin, SecretFinding, SecretReport, Skipped
from hullcheck.secrets.rules import RULES, Rule
from hullcheck.secrets.scanner import Scanner, redact, scan_image

__all__ = [
    "RULES", "Confidence", "Origin", "Rule", "Scanner", "SecretConfig", "SecretFinding", "SecretReport",
    "Severity", "Skipped", "available_engines", "load_config", "parse_config", "redact",
    "scan_image",
]
