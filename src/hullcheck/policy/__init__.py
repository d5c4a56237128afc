"""Policy: rules over finished evidence, judged purely; waivers with a reason and an expiry.

    policy = load(Path("production.yaml"))          # PolicyError names file, line and field
    decision = evaluate(evidence, policy, now=date.today())
    decision.outcome                                # pass | warn | fail — a value, not a raise

``Evidence`` is built by ``pipeline`` from the other rooms' results through the adapters
in ``policy.evidence``; policy never opens an image or talks to a registry.
"""

from hullcheck.policy.evaluate import Decision, ExpiredWaiver, Item, Outcome, Violation, Waived, evaluate
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
)
from hullcheck.policy.load import PolicyError, load, loads
from hullcheck.policy.model import Action, Need, Policy, Waiver

__all__ = [
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
    "SecretEvidence",
    "SignatureEvidence",
    "Violation",
    "VulnEvidence",
    "Waived",
    "Waiver",
    "evaluate",
    "load",
    "loads",
]
