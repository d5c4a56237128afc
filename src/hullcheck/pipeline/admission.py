"""What the admission webhook asks of the pipeline: an image name resolved to a digest, the
evidence a policy needs about that digest, and the decision. The server never reads images
or talks to registries itself.

    with Admission(policy, insecure=False) as gate:
        name = image_name("registry.example/app:1.2")   # ReferenceError_ when malformed
        digest = name.digest or gate.resolve(name)       # Unreachable when no answer
        evidence = gate.gather(name.with_digest(digest))
        decision = gate.decide(evidence, name, digest, today)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hullcheck.image import PullOptions
from hullcheck.pipeline.policy import decide, evidence_request, gather_evidence

if TYPE_CHECKING:
    from hullcheck.policy import Decision, Evidence, Policy
    from hullcheck.registry.client import RegistryClient
    from hullcheck.registry.reference import Reference


@dataclass(frozen=True, slots=True)
class ImageName:
    """A registry image as a Pod writes it, parsed and normalised (``str()`` shows it)."""

    ref: Reference

    def __str__(self) -> str:
        return str(self.ref)

    @property
    def digest(self) -> str:
        """The digest the name pins, "" for a tag alone."""
        return self.ref.digest or ""

    def with_digest(self, digest: str) -> ImageName:
        return ImageName(self.ref.with_digest(digest))


def image_name(text: str) -> ImageName:
    """``text`` as a registry reference; a ``ReferenceError_`` naming what is wrong otherwise."""
    from hullcheck.registry.reference import parse_reference

    return ImageName(parse_reference(text))


class Admission:
    """The pipeline for one policy, as the webhook uses it. Registry credentials come from the
    Docker config (``DOCKER_CONFIG``) by host only, never from the environment or options: a
    Pod author chooses the registry, so a credential meant for one registry must never be
    offered to whatever host a Pod names. One registry client serves every review."""

    def __init__(self, policy: Policy, *, insecure: bool = False, db: Path | None = None,
                 base_trust: Path | None = None, client: RegistryClient | None = None) -> None:
        from hullcheck.image.remote import make_client

        self.policy = policy
        self._pull = PullOptions(insecure=insecure)
        self._db = db
        self._base_trust = base_trust
        self._client = client if client is not None else make_client(self._pull)
        self._owned = client is None

    def resolve(self, name: ImageName) -> str:
        """The digest a tag points to now (tags move: resolved on every review)."""
        return self._client.resolve(name.ref)

    def gather(self, name: ImageName) -> Evidence:
        """The evidence the policy needs about ``name``, which must pin a digest (signatures
        verified against the registry)."""
        req = evidence_request(self.policy, f"{name.ref.name}@{name.digest}", db=self._db,
                               pull=self._pull, base_trust=self._base_trust)
        return gather_evidence(req)

    def decide(self, evidence: Evidence, name: ImageName, digest: str, today: date) -> Decision:
        """The decision about ``name`` as written, at ``digest``: evidence gathered (or cached)
        for the digest is judged under the reference the Pod wrote."""
        shown = replace(evidence, image=replace(evidence.image, ref=str(name), digest=digest))
        return decide(shown, self.policy, today)

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
