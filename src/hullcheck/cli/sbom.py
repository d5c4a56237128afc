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
    outputs,
    pull_options,
    shows_table,
    write_outputs,
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
    outs = outputs(args)
    req = pipeline.SbomRequest(image=args.image, scope=args.scope, platform=args.platform,
                               pull=pull_options(args), from_attestation=attestation_key(args))
    with LayerProgress(args.quiet) as progress:
        inv = pipeline.inventory(req, progress.callbacks)

    def render(fmt: str, width: int | None) -> bytes:
        if fmt == "table":
            from hullcheck import report

            return report.render(inv, fmt, width=width)
        data = sbom.encode(inv, fmt)
        return data if data.endswith(b"\n") else data + b"\n"

    write_outputs(outs, render)
    if inv.hidden and inv.scope == "squashed" and not shows_table(outs) and not args.quiet:
        n = len(inv.hidden)
        print(f"note: {n} {'package is' if n == 1 else 'packages are'} shipped in lower layers "
              "but not visible; --scope all-layers lists them", file=sys.stderr)
    return 0
