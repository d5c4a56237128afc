"""hullcheck verify IMAGE --key PUB [-o table|json]

Exit 0 when a signature by the key verifies for exactly the image's digest, 1 when none does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hullcheck import pipeline
from hullcheck.cli.common import (
    add_image_options,
    add_output_options,
    default_format,
    emit,
    pull_options,
)
from hullcheck.cli.sign import IMAGE_HELP
from hullcheck.errors import UsageError

FORMATS = ("table", "json")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify an image's signatures (cosign-compatible)",
        description="Find the image's signatures (the sha256-<hex>.sig tag and Sigstore bundles "
        "among its OCI referrers) and check them with the public key. Succeeds only "
        "when one is signed by the key for exactly the digest the reference names.",
    )
    p.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)
    p.add_argument("--key", required=True, type=Path, metavar="PUB", help="public key (PEM)")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.platform:
        raise UsageError("--platform: verify checks the digest the reference names")
    v = pipeline.verify_image(args.image, args.key, pull_options(args))
    claims = v.claims
    doc = {
        "image": v.image,
        "digest": v.digest,
        "verified": True,
        "key": {"fingerprint": v.key_fingerprint},
        "source": v.source,
        "format": v.format,
        "critical": {
            "identity": {"docker-reference": claims.docker_reference},
            "image": {"docker-manifest-digest": claims.manifest_digest},
            "type": claims.type,
        },
        "optional": dict(claims.optional),
    }
    if default_format(args) == "json":
        emit(json.dumps(doc, indent=2).encode() + b"\n", args.file)
        return 0
    lines = [
        f"Verified {v.image}",
        f"  digest:            {v.digest}",
        f"  signed by key:     {v.key_fingerprint}",
        f"  found in:          {v.source} ({v.format})",
        f"  type:              {claims.type}",
        f"  docker-reference:  {claims.docker_reference}",
        f"  manifest digest:   {claims.manifest_digest}",
    ]
    lines += [f"  optional {k}: {val}" for k, val in claims.optional]
    emit(("\n".join(lines) + "\n").encode(), args.file)
    return 0
