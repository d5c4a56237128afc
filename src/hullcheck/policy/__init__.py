"""Policy: rules over finished evidence, judged purely; waivers with a reason and an expiry.

    policy = load(Path("production.yaml"))          # PolicyError names file, line and field
    decision = evaluate(evidence, policy, now=date.today())
    decision.outcome                                # pass | warn | fail — a value, not a raise

``Evidence`` is policy's own record of an image, filled by ``pipeline.policy`` from the
other rooms' results; policy never opens an image or talks to a registry. Each rule type
is a class in ``policy.rules`` (its YAML fields, the evidence it needs, its check).
``report`` renders decisions.
"""

from hullcheck.policy.evaluate import Decision, ExpiredWaiver, Outcome, Violation, Waived, evaluate
from hullcheck.policy.evidence import (
    AttestationEvidence,
    BaseEvidence,
    ConfigEvidence,
    Evidence,
    ImageEvidence,
    PackageEvidence,
    SecretEvidence,
    SignatureEvidence,
    VulnEvidence,
    normalise_fingerprint,
)
from hullcheck.policy.fields import PolicyError
from hullcheck.policy.load import load, loads
from hullcheck.policy.model import Action, Item, Need, Policy, Rule, Waiver
from hullcheck.policy.rules import RULE_TYPES

__all__ = [
    "RULE_TYPES",
    "Action",
    "AttestationEvidence",
    "BaseEvidence",
    "ConfigEvidence",
    "Decision",
    "Evidence",
    "ExpiredWaiver",
    "ImageEvidence",
    "Item",
    "Need",
    "Outcome",
    "PackageEvidence",
    "Policy",
    "PolicyError",
    "Rule",
    "SecretEvidence",
    "SignatureEvidence",
    "Violation",
    "VulnEvidence",
    "Waived",
    "Waiver",
    "evaluate",
    "load",
    "loads",
    "normalise_fingerprint",
]
