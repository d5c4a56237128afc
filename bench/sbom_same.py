"""Every SBOM the bench images and the rootfs fixtures give, written to a directory with what
changes on every run (timestamps, serial numbers, namespaces) replaced, so two trees' outputs
can be compared byte for byte (``diff -r``): a speed change must not change a byte.

    PYTHONPATH=/abs/src python bench/sbom_same.py OUT_DIR [--only big,small,...]

Each image's bench layout (``bench/sbom.py`` builds them), each format of ``sbom.FORMATS`` and
both scopes; the rootfs fixtures as ``dir:`` images. The layer cache is left empty (a fresh
directory per run), so the layers are read by the tree being measured.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = Path.home() / ".cache" / "hullcheck-bench" / "layouts"
IMAGES = {"big": "big.oci", "big-plus": "big-plus.oci", "small": "debootstrap.oci",
          "node": "node-app.oci"}
FORMATS = ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "json")
SCOPES = ("squashed", "all-layers")
# What differs between two runs of one tree: replaced by a fixed text.
_VOLATILE = [
    (re.compile(rb"urn:uuid:[0-9a-f-]{36}"), b"urn:uuid:X"),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"), b"TIME"),
    (re.compile(rb"(\"documentNamespace\": \"[^\"]*?)[0-9a-f-]{36}\""), rb'\1X"'),
]


def normalised(data: bytes) -> bytes:
    for rx, fixed in _VOLATILE:
        data = rx.sub(fixed, data)
    return data


def sources(only: set[str] | None) -> dict[str, str]:
    out = {name: f"oci:{LAYOUTS / d}" for name, d in IMAGES.items()
           if (only is None or name in only) and (LAYOUTS / d).is_dir()}
    if only is None or "rootfs" in only:
        rootfs = ROOT / "tests" / "fixtures" / "rootfs"
        out |= {f"rootfs-{d.name}": f"dir:{d}" for d in sorted(rootfs.iterdir()) if d.is_dir()
                and not d.name.startswith("_")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", help="comma-separated: " + ",".join([*IMAGES, "rootfs"]))
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    args.out.mkdir(parents=True, exist_ok=True)
    hullcheck = str(Path(sys.executable).with_name("hullcheck"))
    for name, image in sources(only).items():
        for scope in SCOPES:
            for fmt in FORMATS:
                dest = args.out / f"{name}.{scope}.{fmt}"
                with tempfile.TemporaryDirectory() as cache:
                    done = subprocess.run(
                        [hullcheck, "sbom", image, "-o", fmt, "--scope", scope, "--quiet",
                         "--cache-dir", cache, "--file", str(dest)],
                        capture_output=True, check=False)
                if done.returncode != 0:
                    dest.write_bytes(b"exit %d\n" % done.returncode + done.stderr)
                else:
                    dest.write_bytes(normalised(dest.read_bytes()))
                print(dest.name, done.returncode, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
