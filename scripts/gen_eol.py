#!/usr/bin/env python3
"""Generate src/hullcheck/data/eol.json from endoflife.date product files.

    python scripts/gen_eol.py [PRODUCTS_DIR] [-o src/hullcheck/data/eol.json] [--commit SHA]

PRODUCTS_DIR holds endoflife.date product pages as JSON (the YAML front matter of
``products/<product>.md``, string-preserving), by default ``../shared/data/eol/endoflife-date/products``.
Only the distributions a container base image can be built on are kept, keyed by the ``ID=`` their
os-release carries. endoflife.date's fields are kept with their meaning:

    eoas  end of active support (bug fixes)          -> activeSupportEnd
    eol   end of (standard) security support        -> securitySupportEnd
    eoes  end of extended support (LTS / ESM / ELS)  -> extendedSupportEnd

Each value is an ISO date, ``true`` (ended, date not published) or ``null`` (no end announced).
The output is deterministic (sorted, no timestamp other than the source's commit).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# os-release ID -> (endoflife.date product, display name). CentOS Stream shares ID=centos with
# CentOS Linux; hullcheck tells them apart by NAME (see hullcheck.base.eol.product_key).
PRODUCTS: dict[str, tuple[str, str]] = {
    "debian": ("debian", "Debian"),
    "ubuntu": ("ubuntu", "Ubuntu"),
    "alpine": ("alpine-linux", "Alpine Linux"),
    "rhel": ("rhel", "Red Hat Enterprise Linux (UBI)"),
    "fedora": ("fedora", "Fedora"),
    "amzn": ("amazon-linux", "Amazon Linux"),
    "rocky": ("rocky-linux", "Rocky Linux"),
    "almalinux": ("almalinux", "AlmaLinux"),
    "ol": ("oracle-linux", "Oracle Linux"),
    "centos": ("centos", "CentOS Linux"),
    "centos-stream": ("centos-stream", "CentOS Stream"),
    "sles": ("sles", "SUSE Linux Enterprise Server"),
    "opensuse-leap": ("opensuse", "openSUSE Leap"),
    "photon": ("vmware-photon", "VMware Photon OS"),
}
SOURCE = "https://github.com/endoflife-date/endoflife.date"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "eol" / "endoflife-date" / "products"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "hullcheck" / "data" / "eol.json"


def _deadline(value: Any, *, where: str) -> str | bool | None:
    if value is None or value is False:
        return None
    if value is True:
        return True
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return value
    raise SystemExit(f"{where}: unexpected date value {value!r}")


def convert(product_doc: dict[str, Any], product: str) -> list[dict[str, Any]]:
    releases = []
    for rel in product_doc.get("releases", []):
        cycle = str(rel["releaseCycle"])
        where = f"{product} {cycle}"
        releases.append({
            "cycle": cycle,
            "codename": str(rel.get("codename") or "").lower(),
            "released": _deadline(rel.get("releaseDate"), where=where),
            "activeSupportEnd": _deadline(rel.get("eoas"), where=where),
            "securitySupportEnd": _deadline(rel.get("eol"), where=where),
            "extendedSupportEnd": _deadline(rel.get("eoes"), where=where),
            "latest": str(rel.get("latest") or ""),
        })
    releases.sort(key=lambda r: [int(p) if p.isdigit() else p for p in r["cycle"].split(".")],
                  reverse=True)
    return releases


def generate(products_dir: Path, commit: str,
             products: Mapping[str, tuple[str, str]] = PRODUCTS) -> dict[str, Any]:
    distros: dict[str, Any] = {}
    for os_id, (product, title) in sorted(products.items()):
        path = products_dir / f"{product}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        distros[os_id] = {"product": product, "title": title,
                          "releases": convert(doc, product)}
    return {"schemaVersion": 1, "source": SOURCE, "sourceCommit": commit, "distros": distros}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("products", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--commit", default="a70eca337600e7d721dc48112c271f98661d208b",
                    help="the endoflife.date commit the product files come from")
    args = ap.parse_args(argv)
    doc = generate(args.products, args.commit)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    count = sum(len(d["releases"]) for d in doc["distros"].values())
    print(f"wrote {args.output}: {len(doc['distros'])} distributions, {count} releases",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
