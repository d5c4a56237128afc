"""hullcheck push IMAGE --server URL [--name REPO[:TAG]] — read an image where it is (CI, an
air-gapped builder), upload what it ships to a monitoring service, print its digest."""

from __future__ import annotations

import argparse
import os
import sys

from hullcheck import pipeline, sbom
from hullcheck.cli.common import add_image_options, pull_options
from hullcheck.cli.progress import LayerProgress
from hullcheck.errors import UsageError
from hullcheck.model import ImageSource


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "push", help="scan an image here and upload the result to a monitoring service",
        description="Read IMAGE here (every layer, as 'hullcheck sbom --scope all-layers' "
                    "does) and upload its packages to a 'hullcheck serve monitor' service, "
                    "which matches them against its advisories, keeps re-matching them as "
                    "advisories change, and alerts. The image never leaves this machine. The "
                    "token comes from HULLCHECK_TOKEN (write scope). Prints the image's "
                    "manifest digest. Exit codes: 0 uploaded; 2 usage or input error, or the "
                    "service refused.")
    p.add_argument("image", metavar="IMAGE", help="an image (see 'hullcheck sbom --help')")
    p.add_argument("--server", required=True, metavar="URL",
                   help="the service, e.g. https://hullcheck.example.org")
    p.add_argument("--name", metavar="REPO[:TAG]",
                   help="file it under this repository and tag (default: IMAGE's own, for a "
                        "registry reference; required for archives and layouts)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress or notes on standard error")
    add_image_options(p)
    p.set_defaults(func=run)


def check_name(image: str, name: str | None) -> None:
    """``--name`` is REPO[:TAG]; without it IMAGE must be a registry reference (checked
    before the image is read)."""
    if name is not None and (not name or not name.isprintable() or len(name) > 255
                             or " " in name):
        raise UsageError(f"--name {name[:80]!r}: write REPO[:TAG]")
    if name is None and pipeline.registry_of(image) is None:
        raise UsageError(f"{image} is not a registry reference; say what to file it under "
                         "with --name REPO[:TAG]")


def upload_name(source: ImageSource, name: str | None) -> str:
    """``--name``, else the repository and tag the registry source was read from."""
    if name:
        return name
    repository = source.repo_digests[0].partition("@")[0] if source.repo_digests else ""
    if not repository:
        raise UsageError(f"{source.name}: no repository to file it under; use --name REPO[:TAG]")
    return f"{repository}:{source.tags[0]}" if source.tags else repository


def run(args: argparse.Namespace) -> int:
    from hullcheck.server.api_client import TOKEN_ENV, ApiClient

    check_name(args.image, args.name)
    token = os.environ.get(TOKEN_ENV, "")
    with ApiClient(args.server, token) as api:  # checks --server and the token first
        req = pipeline.SbomRequest(image=args.image, scope="all-layers", platform=args.platform,
                                   pull=pull_options(args))
        with LayerProgress(args.quiet) as progress:
            inv = pipeline.inventory(req, progress.callbacks)
        if not inv.source.manifest_digest:
            raise UsageError(f"{args.image} has no manifest digest (a directory source?); "
                             "push uploads images", hint="push the image, or send an SBOM "
                                                         "to POST /api/v1/sboms")
        name = upload_name(inv.source, args.name)
        answer = api.post("/uploads", params={"name": name}, content=sbom.encode(inv, "json"))
    digest = answer.get("digest") if isinstance(answer, dict) else None
    if not isinstance(digest, str) or digest != inv.source.manifest_digest:
        from hullcheck.server.api_client import ServiceError

        raise ServiceError(f"{args.server} stored the upload under {str(digest)[:80]!r}, not "
                           f"{inv.source.manifest_digest}")
    if not args.quiet:
        print(f"hullcheck: uploaded {len(inv.packages)} packages of {args.image} to "
              f"{args.server} as {name}", file=sys.stderr)
    print(digest)
    return 0
