"""hullcheck sign IMAGE --key KEY [-a KEY=VALUE]... [--bundle]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hullcheck import pipeline
from hullcheck.cli.common import add_image_options, pull_options
from hullcheck.cli.key import prompt_or_none
from hullcheck.errors import UsageError

IMAGE_HELP = "a registry reference (NAME[:TAG][@DIGEST]) or oci:DIR[:TAG]"


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sign",
        help="sign an image (cosign-compatible)",
        description="Sign the image's manifest digest with cosign's simple-signing payload and "
        "store the signature where cosign looks for it: the sha256-<hex>.sig tag of the "
        "same repository (or OCI layout). Existing signatures are kept.",
    )
    p.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)
    p.add_argument(
        "--key",
        required=True,
        type=Path,
        metavar="KEY",
        help="private key (cosign-encrypted, or PKCS#8 PEM); password from "
        "COSIGN_PASSWORD, HULLCHECK_PASSWORD or a prompt",
    )
    p.add_argument(
        "-a",
        "--annotation",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="add a claim to the payload's 'optional' section",
    )
    p.add_argument(
        "--bundle",
        action="store_true",
        help="also attach a Sigstore bundle through the OCI referrers API (cosign 3)",
    )
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print only the result (JSON) on standard output, nothing on standard "
                        "error")
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.platform:
        raise UsageError("--platform: sign signs the digest the reference names (an index as a whole)")
    req = pipeline.SignRequest(
        image=args.image,
        key=args.key,
        pull=pull_options(args),
        prompt=prompt_or_none(),
        annotations=tuple(args.annotation),
        bundle=args.bundle,
    )
    done = pipeline.sign_image(req)
    if not getattr(args, "quiet", False):
        print(f"Signed {done.image} ({done.digest}) with key {done.key_fingerprint}", file=sys.stderr)
        print(f"Signature stored at tag {done.tag}", file=sys.stderr)
    out = {
        "image": done.image,
        "digest": done.digest,
        "tag": done.tag,
        "signatureManifest": done.manifest_digest,
        "key": done.key_fingerprint,
    }
    if done.referrer_digest:
        out["referrer"] = done.referrer_digest
    print(json.dumps(out, sort_keys=True))
    return 0
