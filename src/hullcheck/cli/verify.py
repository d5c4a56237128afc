"""hullcheck verify IMAGE --key PUB [-o table|json]
hullcheck verify IMAGE --certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] ISS
hullcheck verify --bundle FILE --digest sha256:<hex> --certificate-identity ... (no registry)

Exit 0 when a signature by the key (or, keyless, by an accepted identity) verifies for exactly
the image's digest, 1 when none does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hullcheck import pipeline
from hullcheck.cli.common import (
    add_image_options,
    add_output_options,
    outputs,
    pull_options,
    write_outputs,
)
from hullcheck.cli.keyless import add_keyless_options, key_or_keyless, keyless_json, signed_by
from hullcheck.cli.sign import IMAGE_HELP
from hullcheck.errors import UsageError
from hullcheck.signers import Keyless

FORMATS = ("table", "json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify an image's signatures (cosign-compatible)",
        description="Find the image's signatures (the sha256-<hex>.sig tag and Sigstore bundles "
        "among its OCI referrers) and check them with the public key, or keylessly (Fulcio "
        "certificate, Rekor entry, identity; offline, against the Sigstore trusted root). "
        "Succeeds only when one is signed by the key or an accepted identity for exactly "
        "the digest the reference names.",
    )
    p.add_argument("image", metavar="IMAGE", nargs="?", help=IMAGE_HELP)
    p.add_argument("--key", type=Path, metavar="PUB", help="public key (PEM)")
    add_keyless_options(p)
    b = p.add_argument_group("a bundle file instead of an image (keyless, no registry)")
    b.add_argument("--bundle", type=Path, metavar="FILE",
                   help="a Sigstore bundle (cosign 3 writes them) to verify against --digest")
    b.add_argument("--digest", metavar="sha256:HEX", help="the image manifest digest it must sign")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.platform:
        raise UsageError("--platform: verify checks the digest the reference names")
    outs = outputs(args)
    trust = key_or_keyless(args)
    if args.bundle is not None or args.digest:
        v = _verify_bundle(args, trust)
    elif not args.image:
        raise UsageError("name the IMAGE to verify (or --bundle FILE --digest sha256:<hex>)")
    else:
        v = pipeline.verify_image(args.image, trust, pull_options(args))
    claims = v.claims
    keyless = keyless_json(v) if hasattr(v, "signer") else None
    for note in getattr(v, "notes", ()):
        if not getattr(args, "quiet", False):
            print(f"note: {note}", file=sys.stderr)
    doc: dict[str, Any] = {
        "image": v.image,
        "digest": v.digest,
        "verified": True,
        **({"key": {"fingerprint": v.key_fingerprint}} if keyless is None else keyless),
        "source": v.source,
        "format": v.format,
        "critical": {
            "identity": {"docker-reference": claims.docker_reference},
            "image": {"docker-manifest-digest": claims.manifest_digest},
            "type": claims.type,
        },
        "optional": dict(claims.optional),
    }
    lines = [
        f"Verified {v.image}",
        f"  digest:            {v.digest}",
        f"  signed by:         {signed_by(v)}",
        f"  found in:          {v.source} ({v.format})",
        f"  type:              {claims.type}",
        f"  docker-reference:  {claims.docker_reference}",
        f"  manifest digest:   {claims.manifest_digest}",
    ]
    lines += [f"  optional {k}: {val}" for k, val in claims.optional]
    texts = {"json": json.dumps(doc, indent=2) + "\n", "table": "\n".join(lines) + "\n"}
    write_outputs(outs, lambda fmt, width: texts[fmt].encode())
    return 0


def _verify_bundle(args: argparse.Namespace, trust: Path | Keyless) -> Any:
    if args.image:
        raise UsageError("give IMAGE, or --bundle FILE --digest sha256:<hex>, not both")
    if args.bundle is None or not args.digest:
        raise UsageError("--bundle FILE and --digest sha256:<hex> go together")
    if not isinstance(trust, Keyless):
        raise UsageError("--bundle verifies keyless bundles: give --certificate-identity (or "
                         "-regexp) and --certificate-oidc-issuer (or -regexp) instead of --key")
    return pipeline.verify_bundle(args.bundle, args.digest, trust)
