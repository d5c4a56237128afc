"""`make demo`: build a small sample image in code, write its SBOMs, print the package table.

The sample is a real OCI image (gzip layers, config, manifest, index) that looks like a
small Debian-based Python + Node service: a dpkg database, Python distributions in
site-packages, an npm dependency, and a build tool installed then removed in a later
layer (so it is shipped but not visible).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hullcheck.cli.main import main
from hullcheck.image.writer import ImageBuilder, file, whiteout, write_oci_layout

OUT = Path("demo-out")

DPKG_STATUS = """\
Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4+deb12u5
Maintainer: Santiago Vila <sanvila@debian.org>
Description: Debian base system miscellaneous files

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Maintainer: Mark Brown <broonie@debian.org>
Description: compression library - runtime

Package: libsope1
Status: install ok installed
Architecture: amd64
Source: sope
Version: 5.8.0-1
Maintainer: Jordi Mallach <jordi@debian.org>
Description: SOPE web application framework (fixed in 5.8.0-1+deb12u1: reported)

Package: chromium
Status: install ok installed
Architecture: amd64
Version: 98.0.4758.80-1
Maintainer: Debian Chromium Team <chromium@packages.debian.org>
Description: web browser (the tracker's fixed version for bookworm: not reported)
"""

WITH_GCC = DPKG_STATUS + """
Package: gcc-12
Status: install ok installed
Architecture: amd64
Source: gcc-12
Version: 12.2.0-14
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Description: GNU C compiler
"""

SITE = "usr/local/lib/python3.11/site-packages"


def metadata(name: str, version: str, license_: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: {license_}\n"


def build_sample(dest: Path) -> str:
    b = ImageBuilder(labels={"org.opencontainers.image.title": "hullcheck-demo"})
    b.add_layer(
        {
            "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
            "var/lib/dpkg/status": DPKG_STATUS,
            "usr/lib/x86_64-linux-gnu/libssl.so.3": b"\x7fELF fake",
        },
        created_by="ADD rootfs.tar.xz / # debian:12-slim",
    )
    b.add_layer({"var/lib/dpkg/status": WITH_GCC, "usr/bin/gcc-12": b"\x7fELF"},
                created_by="RUN apt-get install -y gcc-12")
    b.add_layer(
        {
            f"{SITE}/requests-2.19.0.dist-info/METADATA": metadata("requests", "2.19.0", "Apache 2.0"),
            f"{SITE}/urllib3-1.24.1.dist-info/METADATA": metadata("urllib3", "1.24.1", "MIT"),
            "app/node_modules/lodash/package.json":
                '{"name": "lodash", "version": "4.17.15", "license": "MIT"}',
            "app/node_modules/algo-svnlook/package.json":
                '{"name": "algo-svnlook", "version": "1.0.3", "license": "ISC"}',
            "app/package.json": '{"name": "demo-app", "version": "1.0.0"}',
        },
        created_by="RUN pip install requests==2.19.0 && npm install lodash@4.17.15",
    )
    b.add_layer({"root/.aws/credentials": "[default]\naws_access_key_id = AKIA" + "Q3EGRTWZ7N4XKP2M"
                 "\naws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzQ8s3tL0vB" + "\n"},
                created_by="COPY credentials /root/.aws/credentials")
    b.add_layer([whiteout("usr/bin/gcc-12"), whiteout("root/.aws"),
                 file("var/lib/dpkg/status", DPKG_STATUS)],
                created_by="RUN apt-get purge -y gcc-12 && rm -rf /root/.aws")
    image = b.build()
    write_oci_layout(dest, [(image, "demo")])
    return f"oci:{dest}:demo"


ADVISORIES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "advisories"


def run() -> int:
    OUT.mkdir(exist_ok=True)
    ref = build_sample(OUT / "sample-image")
    print(f"== sample image written to {OUT / 'sample-image'} (OCI layout)", file=sys.stderr)
    for fmt, name in (("cyclonedx-json", "sbom.cdx.json"), ("spdx-json", "sbom.spdx.json"),
                      ("json", "sbom.hullcheck.json")):
        code = main(["sbom", ref, "-o", fmt, "--scope", "all-layers", "--file", str(OUT / name),
                     "--quiet"])
        if code:
            return code
        print(f"== {fmt} SBOM written to {OUT / name}", file=sys.stderr)
    print("== hullcheck sbom " + ref + " -o table", file=sys.stderr)
    code = main(["sbom", ref, "-o", "table"])
    if code:
        return code
    # Real advisory records shipped with the repository (see tests/fixtures/advisories/README.md);
    # `hullcheck db update` fetches the full public feeds instead.
    db = str(OUT / "vuln.db")
    sources = [str(ADVISORIES / p) for p in (
        "osv/pypa", "osv/malicious/npm", "distro/debian-tracker-json-sample.json",
        "kev/known_exploited_vulnerabilities-subset.json")]
    print(f"== hullcheck db import ... --db {db}", file=sys.stderr)
    code = main(["db", "--db", db, "import", "--replace", *sources])
    if code:
        return code
    print(f"== hullcheck scan {ref} --db {db} --scanners vuln,secret,config -o table",
          file=sys.stderr)
    code = main(["scan", ref, "--db", db, "--scanners", "vuln,secret,config", "-o", "table"])
    print("(debian chromium 98.0.4758.80-1 is not reported: the tracker says bookworm's fix is "
          "exactly that version; libsope1 is matched through its source package sope; the AWS "
          "key was deleted by a later layer but still ships in the image)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run())
