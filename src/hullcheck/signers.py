"""Keyless signers, as every room names them: who signed (``Signer``: what a verified Fulcio
certificate says), whom a verification accepts (``IdentityPolicy``: cosign's
``--certificate-*`` flags, or the same fields in a YAML file) and how to verify keylessly
(``Keyless``: the identities and the Sigstore trust root).

Plain values, no cryptography: ``sign`` verifies with them (``sign.identity`` reads the
certificate), and ``base`` trust files, ``policy`` signature rules and the CLI name signers
with them without importing the room that verifies.

``IdentityPolicy`` takes cosign's flags under their cosign names:

    --certificate-identity / --certificate-identity-regexp          (one of them is required)
    --certificate-oidc-issuer / --certificate-oidc-issuer-regexp    (one of them is required)
    --certificate-github-workflow-trigger / -sha / -name / -repository / -ref   (optional)

As in cosign, an identity matches when it equals one SAN; a regexp matches when it is found
*anywhere* in a SAN (Go's ``MatchString``, Python's ``re.search``): anchor it with ``^…$``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hullcheck.errors import HullcheckError, UsageError, VerificationError

# GitHub Actions certificates carry the workflow claims in these (raw-bytes, "v1") extensions;
# cosign's --certificate-github-workflow-* flags check them.
GITHUB_CLAIMS: Mapping[str, str] = {
    "trigger": "1.3.6.1.4.1.57264.1.2",
    "sha": "1.3.6.1.4.1.57264.1.3",
    "name": "1.3.6.1.4.1.57264.1.4",
    "repository": "1.3.6.1.4.1.57264.1.5",
    "ref": "1.3.6.1.4.1.57264.1.6",
}
# cosign's flag for each IdentityPolicy field.
FLAGS: Mapping[str, str] = {
    "identity": "--certificate-identity",
    "identity_regexp": "--certificate-identity-regexp",
    "issuer": "--certificate-oidc-issuer",
    "issuer_regexp": "--certificate-oidc-issuer-regexp",
    **{f"github_workflow_{k}": f"--certificate-github-workflow-{k}" for k in GITHUB_CLAIMS},
}
# The same fields in YAML files (policy signature rules, base trust files), camelCase.
YAML_KEYS: Mapping[str, str] = {
    "identity": "identity", "identityRegexp": "identity_regexp",
    "issuer": "issuer", "issuerRegexp": "issuer_regexp",
    **{"githubWorkflow" + k.title(): f"github_workflow_{k}" for k in GITHUB_CLAIMS},
}
_MAX_SHOWN = 200  # characters of a certificate value quoted in a message


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """What a verified Fulcio certificate says about who signed."""

    identities: tuple[str, ...]  # the SANs: e-mail addresses, URIs, Sigstore other names
    issuer: str  # the OIDC issuer ("" when the certificate names none)
    github: tuple[tuple[str, str], ...] = ()  # workflow claims present: (trigger|sha|..., value)

    @property
    def identity(self) -> str:
        return self.identities[0] if self.identities else ""

    def claim(self, name: str) -> str:
        return next((v for k, v in self.github if k == name), "")


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


def _compile(pattern: str, flag: str, error: type[HullcheckError]) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise error(f"{flag} {pattern!r}: not a regular expression ({exc})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPolicy:
    """The keyless signer a verification accepts: cosign's ``--certificate-*`` flags."""

    identity: str = ""
    identity_regexp: str = ""
    issuer: str = ""
    issuer_regexp: str = ""
    github_workflow_trigger: str = ""
    github_workflow_sha: str = ""
    github_workflow_name: str = ""
    github_workflow_repository: str = ""
    github_workflow_ref: str = ""
    _identity_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _issuer_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, values: Mapping[str, str], *, error: type[HullcheckError] = UsageError,
               names: Mapping[str, str] = FLAGS) -> IdentityPolicy:
        """A checked policy: one of identity/identity_regexp and one of issuer/issuer_regexp,
        regexps that compile. ``names`` spells the fields as the caller's user wrote them
        (cosign's flags by default, YAML keys); errors are raised as ``error``."""
        for a, b in (("identity", "identity_regexp"), ("issuer", "issuer_regexp")):
            if values.get(a) and values.get(b):
                raise error(f"give {names[a]} or {names[b]}, not both")
            if not values.get(a) and not values.get(b):
                raise error(f"keyless verification needs {names[a]} or {names[b]}",
                            hint="say whose signatures to accept: an identity (a workflow URI or "
                                 "an e-mail address) and the OIDC issuer that vouched for it")
        unknown = set(values) - set(FLAGS)
        if unknown:
            raise TypeError(f"IdentityPolicy: unknown fields {sorted(unknown)}")
        policy = cls(
            identity=values.get("identity", ""), identity_regexp=values.get("identity_regexp", ""),
            issuer=values.get("issuer", ""), issuer_regexp=values.get("issuer_regexp", ""),
            github_workflow_trigger=values.get("github_workflow_trigger", ""),
            github_workflow_sha=values.get("github_workflow_sha", ""),
            github_workflow_name=values.get("github_workflow_name", ""),
            github_workflow_repository=values.get("github_workflow_repository", ""),
            github_workflow_ref=values.get("github_workflow_ref", ""),
        )
        object.__setattr__(policy, "_identity_re",
                           _compile(policy.identity_regexp, names["identity_regexp"], error))
        object.__setattr__(policy, "_issuer_re",
                           _compile(policy.issuer_regexp, names["issuer_regexp"], error))
        return policy

    @classmethod
    def from_yaml(cls, values: Mapping[str, str], *, error: type[HullcheckError],
                  where: str) -> IdentityPolicy:
        """A policy from a YAML mapping of ``YAML_KEYS`` (the caller checked the keys);
        messages name the fields as ``where.key``."""
        names = {field: f"{where}.{key}" for key, field in YAML_KEYS.items()}
        return cls.create({YAML_KEYS[k]: v for k, v in values.items() if v}, error=error,
                          names=names)

    def describe(self) -> str:
        who = self.identity or f"/{self.identity_regexp}/"
        issuer = self.issuer or f"/{self.issuer_regexp}/"
        return f"{who} (issuer {issuer})"

    def matches(self, identities: tuple[str, ...] | str, issuer: str) -> bool:
        """Whether an identity (or any of several SANs) and an issuer meet the identity and
        issuer conditions (the GitHub claims are checked by ``check`` only)."""
        sans = (identities,) if isinstance(identities, str) else identities
        return self._identity_problem(sans) is None and self._issuer_problem(issuer) is None

    def _identity_problem(self, sans: tuple[str, ...]) -> str | None:
        if self.identity and self.identity in sans:
            return None
        pattern = self._identity_re or (re.compile(self.identity_regexp) if self.identity_regexp
                                        else None)
        if pattern is not None and any(pattern.search(s) for s in sans):
            return None
        shown = ", ".join(_short(s) for s in sans[:4]) or "none"
        wanted = self.identity or f"regexp {self.identity_regexp!r}"
        return f"certificate identity is {shown}, not {_short(wanted)}"

    def _issuer_problem(self, issuer: str) -> str | None:
        if self.issuer and issuer == self.issuer:
            return None
        pattern = self._issuer_re or (re.compile(self.issuer_regexp) if self.issuer_regexp else None)
        if pattern is not None and pattern.search(issuer):
            return None
        wanted = self.issuer or f"regexp {self.issuer_regexp!r}"
        return f"certificate OIDC issuer is {_short(issuer) or 'missing'}, not {_short(wanted)}"

    def check(self, signer: Signer, *, what: str) -> None:
        """Raise VerificationError (one line naming what differs) unless ``signer`` meets
        every condition."""
        problem = self._issuer_problem(signer.issuer) or self._identity_problem(signer.identities)
        if problem is None:
            for name in GITHUB_CLAIMS:
                wanted = getattr(self, f"github_workflow_{name}")
                if wanted and signer.claim(name) != wanted:
                    got = signer.claim(name)
                    problem = (f"certificate's GitHub workflow {name} is "
                               f"{_short(got) if got else 'missing'}, not {_short(wanted)}")
                    break
        if problem is not None:
            raise VerificationError(f"{what}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyless:
    """How to verify keylessly: whose signatures to accept, and the trust material (a Sigstore
    ``trusted_root.json``; None: the production root, see ``sign.trustroot.load``)."""

    identities: tuple[IdentityPolicy, ...]  # any one of them
    trusted_root: Path | None = None
    refresh: bool = False  # may the production root be refreshed through TUF first

    def describe(self) -> str:
        return " or ".join(p.describe() for p in self.identities)
