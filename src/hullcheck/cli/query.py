"""hullcheck query --server URL (--purl P [--versions RANGE] | --advisory ID | --image REF)
[-o table|json] — ask a monitoring service where something ships (token: HULLCHECK_TOKEN)."""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Sequence
from typing import Any

from hullcheck.cli.common import add_output_options, add_timeout_option, outputs, write_outputs
from hullcheck.digest import parse_digest
from hullcheck.errors import UsageError, printable

FORMATS = ("table", "json")
SHORT = 19  # characters of a digest in a table: sha256: and 12 hex digits


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "query", help="ask a monitoring service where a package or advisory ships",
        description="Ask a 'hullcheck serve monitor' service: every image that ships a package "
                    "(visible or only in a lower layer) or has an advisory, with its tags, "
                    "where it runs and who owns it; or one image's findings, or a "
                    "repository's images. The token comes from HULLCHECK_TOKEN (read scope). "
                    "Exit codes: 0 answered (also when nothing matched); 2 usage error or "
                    "the service refused.")
    p.add_argument("--server", required=True, metavar="URL",
                   help="the service, e.g. https://hullcheck.example.org")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--purl", metavar="PURL",
                      help="a package: exact with a version (pkg:deb/debian/xz-utils@5.6.0-0.2), "
                           "else every version (or --versions)")
    what.add_argument("--advisory", metavar="ID", help="an advisory id or any alias (CVE-...)")
    what.add_argument("--image", metavar="REF",
                      help="an image digest (its findings), or REPO[:TAG] (its images)")
    p.add_argument("--versions", metavar="RANGE",
                   help="with --purl: only these versions, e.g. '>=5.6.0,<5.6.2'")
    add_output_options(p, FORMATS)
    add_timeout_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hullcheck.server.api_client import TOKEN_ENV, ApiClient, ServiceError

    if args.versions and not args.purl:
        raise UsageError("--versions narrows a --purl query")
    outs = outputs(args)
    with ApiClient(args.server, os.environ.get(TOKEN_ENV, "")) as api:
        if args.image:
            kind, answer = _image(api, args.image)
        else:
            params = {"purl": args.purl} if args.purl else {"advisory": args.advisory}
            if args.versions:
                params["versions"] = args.versions
            kind, answer = "search", api.get("/search", params=params)
    texts: dict[str, bytes] = {}
    for fmt in {o.format for o in outs}:  # every output rendered before any is written
        if fmt == "json":
            texts[fmt] = json.dumps(answer, indent=2, ensure_ascii=False).encode() + b"\n"
            continue
        try:
            texts[fmt] = render(kind, answer).encode()
        except (KeyError, TypeError, AttributeError, IndexError):
            raise ServiceError(f"{args.server} answered, but not in the API's shape") from None
    write_outputs(outs, lambda fmt, width: texts[fmt])
    return 0


def _image(api: Any, ref: str) -> tuple[str, Any]:
    """One image by digest (``sha256:...`` or ``REPO@sha256:...``), else the images of a
    repository (``REPO[:TAG]``: those the tag points at)."""
    digest = ref.rpartition("@")[2]
    if digest.startswith("sha256:"):
        parse_digest(digest, what="--image")  # never a path of the user's choosing
        return "image", api.get(f"/images/{digest}")
    repository, tag = ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:  # a tag, not a registry's port
        repository, tag = ref[: -len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    answer = api.get("/images", params={"repository": repository})
    if tag:
        answer["images"] = [i for i in answer.get("images", []) if tag in i.get("tags", [])]
    return "images", answer


# -- tables ---------------------------------------------------------------------------------


def render(kind: str, answer: dict[str, Any]) -> str:
    if kind == "image":
        return _findings_table(answer)
    if kind == "images":
        return _table(("DIGEST", "REPOSITORY", "TAGS", "STATUS", "FINDINGS"),
                      [(_short(i["digest"]), i["repository"], ", ".join(i["tags"]) or "-",
                        i["status"], _counts(i["findings"])) for i in answer["images"]],
                      f"{len(answer['images'])} images")
    rows = []
    for hit in answer["images"]:
        where = ", ".join(f"{d['cluster']}/{d['namespace']}/{d['workload']}"
                          for d in hit["deployments"]) or "-"
        what = ", ".join(sorted({f"{p['name']} {p['version']}" + ("" if p["visible"] else
                                                                   " (lower layer)")
                                 for p in hit.get("packages", [])}
                                | {f["id"] for f in hit.get("findings", [])}))
        rows.append((_short(hit["digest"]), hit["repository"], ", ".join(hit["tags"]) or "-",
                     what or "-", where, ", ".join(hit["owners"]) or "-"))
    return _table(("DIGEST", "REPOSITORY", "TAGS", "SHIPS", "DEPLOYED", "OWNERS"), rows,
                  f"{len(rows)} images")


def _findings_table(image: dict[str, Any]) -> str:
    rows = [(f["package"].get("name", f["package"]["purl"]), f["package"].get("version", ""),
             f["id"], f["severity"], f.get("status", ""), ", ".join(f.get("fixedVersions", []))
             or "-", f["state"], (f.get("firstSeen") or "")[:10])
            for f in image["findings"] if f["state"] == "open"]
    where = ", ".join(f"{d['cluster']}/{d['namespace']}/{d['workload']}"
                      for d in image["deployments"]) or "not deployed"
    tail = (f"{image['repository']} {image['digest']} ({', '.join(image['tags']) or 'no tags'}; "
            f"{image['status']}): {len(rows)} open findings ({_counts(image['summary'])}); "
            f"{where}; owners: {', '.join(image['owners']) or '-'}")
    return _table(("PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "STATUS", "FIXED IN",
                   "STATE", "FIRST SEEN"), rows, tail)


def _short(digest: str) -> str:
    return digest[:SHORT]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"


def _table(header: tuple[str, ...], rows: Sequence[Sequence[object]], tail: str) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in header:
        table.add_column(col, overflow="fold")
    for row in rows:  # the service's text is escaped: no terminal control sequences
        table.add_row(*(Text(printable(str(cell))) for cell in row))
    buf = io.StringIO()
    console = Console(file=buf, width=160, color_system=None, highlight=False)
    if rows:
        console.print(table)
    console.print(printable(tail), soft_wrap=True, markup=False)
    return buf.getvalue()
