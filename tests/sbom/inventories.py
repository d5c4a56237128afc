"""Inventories built in code for the SBOM tests."""

from __future__ import annotations

import hashlib

from packageurl import PackageURL

from hullcheck.model import (
    Distro,
    ImageSource,
    Inventory,
    Layer,
    Location,
    Package,
    PackageType,
    Relationship,
    RelationshipType,
    SourcePackage,
    Unknown,
    Visibility,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
MANIFEST = "sha256:" + "a" * 64
CONFIG = "sha256:" + "c" * 64

LAYERS = (
    Layer(index=0, digest="sha256:" + "d" * 64, diff_id=D1, size=29_000_000,
          media_type="application/vnd.oci.image.layer.v1.tar+gzip",
          created_by="# debian.sh --arch 'amd64' out/ 'bookworm' '@1700000000'"),
    Layer(index=1, digest="sha256:" + "e" * 64, diff_id=D2, size=1_000,
          created_by="RUN /bin/sh -c apt-get install -y openssl # buildkit"),
    Layer(index=2, digest="sha256:" + "f" * 64, diff_id=D3, size=2_000,
          created_by="RUN /bin/sh -c pip install requests && rm -rf /var/lib/dpkg/status"),
)
DEB_DISTRO = Distro(id="debian", version_id="12", codename="bookworm", name="Debian GNU/Linux",
                    pretty_name="Debian GNU/Linux 12 (bookworm)")


def deb(name: str, version: str, *, layer: int, source: SourcePackage | None = None,
        licenses: tuple[str, ...] = (), visibility: Visibility = Visibility.VISIBLE) -> Package:
    return Package(
        type=PackageType.DEB, name=name, version=version,
        purl=PackageURL(type="deb", namespace="debian", name=name, version=version,
                        qualifiers={"arch": "amd64", "distro": "debian-12"}).to_string(),
        found_by="dpkg-db", arch="amd64",
        locations=(Location(path="/var/lib/dpkg/status", layer=layer),),
        licenses=licenses, source=source, visibility=visibility,
        files=(f"/usr/share/doc/{name}/copyright",),
        # as dpkg's md5sums records it
        file_digests=((f"/usr/share/doc/{name}/copyright",
                       "md5:" + hashlib.md5(name.encode()).hexdigest()),),
        cpes=(f"cpe:2.3:a:debian:{name}:{version}:*:*:*:*:*:*:*",),
        extras=(("maintainer", "Debian <debian@example.org>"),),
    )


def debian_inventory(scope: str = "squashed") -> Inventory:
    """Debian with source packages, three layers, a hidden package, python and npm packages."""
    libssl = deb("libssl3", "3.0.11-1~deb12u2", layer=1,
                 source=SourcePackage(name="openssl", version="3.0.11-1~deb12u2"),
                 licenses=("Apache-2.0",))
    openssl = deb("openssl", "3.0.11-1~deb12u2", layer=1,
                  source=SourcePackage(name="openssl", version="3.0.11-1~deb12u2"),
                  licenses=("Apache-2.0",))
    base = deb("base-files", "12.4+deb12u5", layer=0, licenses=("GPL-2.0-or-later",))
    # dpkg status deleted in layer 2: the OS packages of layer 1 are still shipped but hidden.
    hidden = deb("curl", "7.88.1-10+deb12u5", layer=0, visibility=Visibility.HIDDEN,
                 source=SourcePackage(name="curl", version="7.88.1-10+deb12u5"),
                 licenses=("curl",))
    requests = Package(
        type=PackageType.PYTHON, name="requests", version="2.31.0",
        purl="pkg:pypi/requests@2.31.0", found_by="python-installed",
        locations=(Location(path="/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                            layer=2),),
        licenses=("Apache-2.0",),
        files=("/usr/lib/python3/dist-packages/requests/__init__.py",
               "/usr/lib/python3/dist-packages/requests/api.py"),
    )
    lodash = Package(
        type=PackageType.NPM, name="@types/node", version="20.1.0",
        purl="pkg:npm/%40types/node@20.1.0", found_by="npm-lock",
        locations=(Location(path="/app/package-lock.json", layer=2),
                   Location(path="/app/node_modules/@types/node/package.json", layer=2)),
        licenses=("MIT OR Apache-2.0", "BSD-style"),
    )
    return Inventory(
        source=ImageSource(kind="registry", name="docker.io/library/debian:12",
                           manifest_digest=MANIFEST, config_digest=CONFIG,
                           repo_digests=(f"docker.io/library/debian@{MANIFEST}",),
                           tags=("12",), platform="linux/amd64", created="2024-01-01T00:00:00Z",
                           labels=(("org.opencontainers.image.source", "https://example.org"),)),
        distro=DEB_DISTRO,
        layers=LAYERS,
        packages=(base, libssl, openssl, hidden, requests, lodash),
        relationships=(
            Relationship(source=requests.purl, target=libssl.purl,
                         type=RelationshipType.OWNED_BY),
        ),
        unknowns=(Unknown(location=Location(path="/var/lib/dpkg/status.d/broken", layer=1),
                          cataloger="dpkg-db", reason="truncated stanza"),),
        scope=scope,
    )


def alpine_inventory() -> Inventory:
    """Alpine with an apk origin, a non-SPDX licence text and a weird, unicode package name."""
    busybox = Package(
        type=PackageType.APK, name="busybox", version="1.36.1-r5",
        purl=PackageURL(type="apk", namespace="alpine", name="busybox", version="1.36.1-r5",
                        qualifiers={"arch": "x86_64", "distro": "alpine-3.18.4"}).to_string(),
        found_by="apk-db", arch="x86_64",
        locations=(Location(path="/lib/apk/db/installed", layer=0),),
        licenses=("GPL-2.0-only",), source=SourcePackage(name="busybox", version="1.36.1-r5"),
    )
    weird = Package(
        type=PackageType.PYTHON, name="zope.interface<&>\"ünïcödé", version="6.0+local.ü",
        purl="pkg:pypi/zope-interface@6.0", found_by="python-installed",
        locations=(Location(path="/usr/lib/python3.11/site-packages/zöpe\u00a0dir/METADATA",
                            layer=1),),
        licenses=("Zope Public License (ZPL) 2.1 & friends",),
    )
    return Inventory(
        source=ImageSource(kind="oci", name="oci:./build/alpine-image",
                           manifest_digest="sha256:" + "b" * 64),
        distro=Distro(id="alpine", version_id="3.18.4", pretty_name="Alpine Linux v3.18"),
        layers=(Layer(index=0, digest="sha256:" + "4" * 64, diff_id="sha256:" + "5" * 64),
                Layer(index=1, digest="sha256:" + "6" * 64, diff_id="sha256:" + "7" * 64)),
        packages=(busybox, weird),
    )
