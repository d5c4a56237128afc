"""hullcheck sbom IMAGE [-o FORMAT] [--file PATH] [--scope squashed|all-layers]"""

from __future__ import annotations

import argparse
import sys

from hullcheck import pipeline, sbom
from hullcheck.cli.common import (
    add_attestation_options,
    add_image_options,
    add_output_options,
    attestation_key,
    default_format,
    emit,
    pull_options,
)
from hullcheck.cli.progress import LayerProgress

FORMATS = ("table", *sbom.FORMATS)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sbom",
        help="list what is inside an image (SBOM)",
        description="Read an image and write its software bill of materials.",
    )
    p.add_argument("image", metavar="IMAGE",
                   help="docker-archive:FILE, oci-archive:FILE, oci:DIR[:TAG], dir:PATH, "
                        "or a registry reference (NAME[:TAG][@DIGEST])")
    p.add_argument("--scope", choices=pipeline.SCOPES, default="squashed",
                   help="squashed: what a container sees (default); all-layers: also what lower "
                        "layers ship but later layers hid")
    add_attestation_options(p, note="")
    add_output_options(p, FORMATS)
    add_image_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt = default_format(args)
    req = pipeline.SbomRequest(image=args.image, scope=args.scope, platform=args.platform,
                               pull=pull_options(args), from_attestation=attestation_key(args))
    with LayerProgress(args.quiet) as progress:
        inv = pipeline.inventory(req, progress.callbacks)
    if fmt == "table":
        from hullcheck import report

        data = report.render(inv, fmt)
    else:
        data = sbom.encode(inv, fmt)
        if not data.endswith(b"\n"):
            data += b"\n"
    emit(data, args.file)
    if inv.hidden and inv.scope == "squashed" and fmt != "table" and not args.quiet:
        print(f"note: {len(inv.hidden)} packages are shipped in lower layers but not visible; "
              "--scope all-layers lists them", file=sys.stderr)
    return 0
