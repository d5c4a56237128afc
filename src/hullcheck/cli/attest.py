"""hullcheck attest IMAGE --key KEY --type T (--predicate FILE | --sbom)
hullcheck verify-attestation IMAGE (--key PUB | --certificate-identity ... --certificate-oidc-issuer
    ...) [--type T] [-o table|json|predicate]
hullcheck verify-attestation --bundle FILE --digest sha256:<hex> --certificate-identity ... """

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
from hullcheck.cli.key import prompt_or_none
from hullcheck.cli.keyless import add_keyless_options, key_or_keyless, keyless_json, signed_by
from hullcheck.cli.sign import IMAGE_HELP
from hullcheck.errors import UsageError

TYPES_HELP = ("cosign's names: cyclonedx, spdx, spdxjson, slsaprovenance (SLSA v0.2), "
              "slsaprovenance1 (SLSA v1), openvex, vuln, custom; or a predicate type URI")
FORMATS = ("table", "json", "predicate")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "attest",
        help="attach a signed in-toto attestation to an image (cosign-compatible)",
        description="Wrap the predicate in an in-toto Statement v1 about the image's digest, sign "
        "it as a DSSE envelope, and store it as cosign does (the sha256-<hex>.att tag) "
        "and as an OCI 1.1 referrer holding a Sigstore bundle.",
    )
    p.add_argument("image", metavar="IMAGE", help=IMAGE_HELP)
    p.add_argument("--key", required=True, type=Path, metavar="KEY", help="private key")
    p.add_argument("--type", metavar="TYPE",
                   help=TYPES_HELP + " (default: cyclonedx with --sbom, vuln with --scan, "
                        "else custom, as cosign's)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--predicate", type=Path, metavar="FILE", help="the predicate (JSON)")
    src.add_argument(
        "--sbom",
        action="store_true",
        help="generate an SBOM of the image as the predicate: CycloneDX (--type cyclonedx, "
        "the default) or SPDX (--type spdx or spdxjson)",
    )
    src.add_argument(
        "--scan",
        action="store_true",
        help="scan the image and attest the result as cosign's vulnerability predicate "
        "(--type vuln)",
    )
    p.add_argument("--db", type=Path, metavar="PATH", help="advisory database for --scan")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print only the result (JSON) on standard output, nothing on standard "
                        "error")
    add_image_options(p)
    p.set_defaults(func=run_attest)

    v = sub.add_parser(
        "verify-attestation",
        help="verify an image's attestations and print their predicates",
        description="Find the image's attestations (sha256-<hex>.att tag and OCI referrers), check "
        "each envelope's signature with the key, or keylessly (Fulcio certificate, Rekor "
        "entry, identity; offline), and that the statement's subject is exactly the "
        "image's digest. Exit 1 when none verifies.",
    )
    v.add_argument("image", metavar="IMAGE", nargs="?", help=IMAGE_HELP)
    v.add_argument("--key", type=Path, metavar="PUB", help="public key (PEM)")
    v.add_argument("--type", metavar="TYPE", help=f"only this predicate type ({TYPES_HELP})")
    add_keyless_options(v)
    b = v.add_argument_group("a bundle file instead of an image (keyless, no registry)")
    b.add_argument("--bundle", type=Path, metavar="FILE",
                   help="a Sigstore bundle holding an attestation, to verify against --digest")
    b.add_argument("--digest", metavar="sha256:HEX", help="the image digest it must be about")
    add_output_options(v, FORMATS)
    add_image_options(v)
    v.set_defaults(func=run_verify)


def run_attest(args: argparse.Namespace) -> int:
    default = "cyclonedx" if args.sbom else "vuln" if args.scan else "custom"
    ptype = pipeline.attestation_type(args.type or default, sbom=args.sbom, scan=args.scan)
    req = pipeline.AttestRequest(
        image=args.image,
        key=args.key,
        predicate_type=ptype,
        predicate=args.predicate,
        sbom=args.sbom,
        scan=args.scan,
        db=args.db,
        platform=args.platform,
        pull=pull_options(args),
        prompt=prompt_or_none(),
    )
    done = pipeline.attest_image(req)
    if not getattr(args, "quiet", False):
        print(f"Attested {done.image} ({done.digest}): {ptype}", file=sys.stderr)
        print(f"Stored at tag {done.tag} and as referrer {done.referrer_digest}", file=sys.stderr)
    print(
        json.dumps(
            {
                "image": done.image,
                "digest": done.digest,
                "predicateType": ptype,
                "tag": done.tag,
                "attestationManifest": done.manifest_digest,
                "referrer": done.referrer_digest,
                "key": done.key_fingerprint,
            },
            sort_keys=True,
        )
    )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    ptype = pipeline.attestation_type(args.type) if args.type else None
    outs = outputs(args)
    trust = key_or_keyless(args)
    if args.bundle is not None or args.digest:
        if args.image:
            raise UsageError("give IMAGE, or --bundle FILE --digest sha256:<hex>, not both")
        if args.bundle is None or not args.digest:
            raise UsageError("--bundle FILE and --digest sha256:<hex> go together")
        if isinstance(trust, Path):
            raise UsageError("--bundle verifies keyless bundles: give --certificate-identity "
                             "(or -regexp) and --certificate-oidc-issuer (or -regexp), not --key")
        found: tuple[Any, ...] = (pipeline.verify_bundle(args.bundle, args.digest, trust,
                                                         attestation=True, predicate_type=ptype),)
    elif not args.image:
        raise UsageError("name the IMAGE (or --bundle FILE --digest sha256:<hex>)")
    else:
        found = pipeline.verify_attestation(args.image, trust, ptype, pull_options(args))
    for note in getattr(found[0], "notes", ()):
        if not getattr(args, "quiet", False):
            print(f"note: {note}", file=sys.stderr)
    if any(o.format == "predicate" for o in outs) and len(found) > 1 and not args.type:
        raise UsageError(f"{len(found)} attestations verified; choose one with --type")
    doc = [
        {
            "image": a.image,
            "digest": a.digest,
            "verified": True,
            **(keyless_json(a) if hasattr(a, "signer") else
               {"key": {"fingerprint": a.key_fingerprint}}),
            "source": a.source,
            "statementType": a.statement_type,
            "predicateType": a.predicate_type,
            "subject": [{"name": s.name, "digest": {"sha256": s.sha256}} for s in a.subjects],
            "predicate": a.predicate,
        }
        for a in found
    ]
    n = len(found)
    lines = [f"Verified {n} attestation{'' if n == 1 else 's'} for {found[0].image} "
             f"({found[0].digest})"]
    for a in found:
        lines.append(f"  {a.predicate_type}  signed by {signed_by(a)}  ({a.source})")
    texts = {"predicate": json.dumps(found[-1].predicate, indent=2) + "\n",
             "json": json.dumps(doc, indent=2) + "\n", "table": "\n".join(lines) + "\n"}
    write_outputs(outs, lambda fmt, width: texts[fmt].encode())
    return 0
