"""The keyless (Sigstore) options shared by verify, verify-attestation, sbom and scan, under
cosign's names, and how their results are shown."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from hullcheck.errors import UsageError
from hullcheck.signers import FLAGS, IdentityPolicy, Keyless, Signer

_HELP = {
    "identity": "accept signatures whose certificate names this identity (an e-mail address or "
                "a URI such as https://github.com/ORG/REPO/.github/workflows/release.yml@refs/"
                "tags/v1)",
    "identity_regexp": "... or an identity this regular expression is found in (unanchored, as "
                       "cosign's: write ^...$)",
    "issuer": "the OIDC issuer that must have vouched for it (e.g. https://token.actions."
              "githubusercontent.com, https://github.com/login/oauth, https://accounts.google.com)",
    "issuer_regexp": "... or an issuer this regular expression is found in",
    "github_workflow_trigger": "the GitHub Actions event that ran the workflow (e.g. push)",
    "github_workflow_sha": "the commit the workflow ran for",
    "github_workflow_name": "the workflow's name",
    "github_workflow_repository": "the repository the workflow ran in (ORG/REPO)",
    "github_workflow_ref": "the git ref the workflow ran for (e.g. refs/tags/v1.2.3)",
}


def add_keyless_options(p: argparse.ArgumentParser) -> None:
    """cosign's ``--certificate-*`` identity flags, ``--trusted-root`` and ``--offline``."""
    g = p.add_argument_group(
        "keyless verification (Sigstore: Fulcio certificates, Rekor transparency log)",
        "instead of --key: whose keyless signatures to accept; checked offline against the "
        "Sigstore trusted root")
    for field, flag in FLAGS.items():
        g.add_argument(flag, dest=f"cert_{field}", metavar="TEXT" if "regexp" not in field
                       else "REGEXP", default="", help=_HELP[field])
    g.add_argument("--trusted-root", type=Path, metavar="FILE",
                   help="Sigstore trusted_root.json to verify against (default: the production "
                        "root sigstore-python ships, refreshed through Sigstore's TUF "
                        "repository at most daily when the network allows)")
    g.add_argument("--offline", action="store_true",
                   help="never contact Sigstore's TUF repository (also: HULLCHECK_OFFLINE=1)")


def keyless_from(args: argparse.Namespace) -> Keyless | None:
    """The keyless verification the flags ask for; None when no identity flag was given."""
    values = {field: str(getattr(args, f"cert_{field}", "") or "") for field in FLAGS}
    if not any(values.values()):
        if getattr(args, "trusted_root", None):
            raise UsageError("--trusted-root is for keyless verification: give "
                             "--certificate-identity and --certificate-oidc-issuer too")
        return None
    policy = IdentityPolicy.create({k: v for k, v in values.items() if v}, error=UsageError)
    refresh = not getattr(args, "offline", False) and not os.environ.get("HULLCHECK_OFFLINE")
    return Keyless(identities=(policy,), trusted_root=getattr(args, "trusted_root", None),
                   refresh=refresh)


def key_or_keyless(args: argparse.Namespace) -> Path | Keyless:
    """``--key PUB`` or the identity flags: exactly one way to verify."""
    keyless = keyless_from(args)
    key = getattr(args, "key", None)
    if key and keyless:
        raise UsageError("give --key (a key-signed image) or the --certificate-* identity flags "
                         "(keyless), not both")
    if keyless is not None:
        return keyless
    if not key:
        raise UsageError("say how to verify: --key PUB, or --certificate-identity (or -regexp) "
                         "and --certificate-oidc-issuer (or -regexp) for keyless signatures")
    return Path(key)


def signer_json(signer: Signer) -> dict[str, Any]:
    doc: dict[str, Any] = {"identity": signer.identity, "issuer": signer.issuer}
    if len(signer.identities) > 1:
        doc["identities"] = list(signer.identities)
    if signer.github:
        doc["githubWorkflow"] = dict(signer.github)
    return doc


def keyless_json(v: Any) -> dict[str, Any]:
    """The keyless part of a verified signature or attestation's JSON."""
    when = v.integrated_time
    return {
        "signer": signer_json(v.signer),
        "transparencyLog": {"logIndex": v.log_index,
                            "integratedTime": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None},
        "trustedRoot": v.trusted_root,
    }


def signed_by(v: Any) -> str:
    """One line for a table: who signed (a key, or a keyless identity and its issuer)."""
    signer = getattr(v, "signer", None)
    if signer is None:
        return f"key {v.key_fingerprint}"
    return f"{signer.identity} (issuer {signer.issuer}; Rekor logIndex {v.log_index})"
