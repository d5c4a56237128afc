"""`make demo`: build a small sample image in code, write its SBOMs, print the package table,
scan it; then run the monitoring service briefly on it: push the sample, publish an advisory
update, and show the alert arriving at a local webhook receiver.

The sample is a real OCI image (gzip layers, config, manifest, index) that looks like a
small Debian-based Python + Node service: a dpkg database, Python distributions in
site-packages, an npm dependency, and a build tool installed then removed in a later
layer (so it is shipped but not visible).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    if code not in (0, 1):
        return code
    return monitor_demo(ref)


# -- the monitoring service ---------------------------------------------------------------------

LATE_ADVISORY = "PYSEC-2019-133"  # urllib3 < 1.24.2 (CVE-2019-11324): "published" mid-demo
HOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's own throwaway HMAC key
SAMPLE_REPOSITORY = "demo.example/hullcheck-demo"
SAMPLE_NAME = f"{SAMPLE_REPOSITORY}:1.0"


def write_feed(feed: Path, *, late: bool) -> Path:
    """The service's advisory sources (the `db update --sources` format) over the shipped
    fixtures; without the late urllib3 record until it is "published"."""
    osv = feed / "osv-pypa"
    if osv.exists():
        shutil.rmtree(osv)
    osv.mkdir(parents=True)
    for record in (ADVISORIES / "osv" / "pypa").glob("*.json"):
        if late or record.stem != LATE_ADVISORY:
            shutil.copy(record, osv)
    sources = feed / "sources.yaml"
    sources.write_text(
        f"- {{name: osv-pypa, kind: osv, url: {osv}}}\n"
        f"- {{name: osv-malicious, kind: osv, url: {ADVISORIES / 'osv' / 'malicious' / 'npm'}}}\n"
        f"- {{name: debian, kind: debian, url: "
        f"{ADVISORIES / 'distro' / 'debian-tracker-json-sample.json'}}}\n"
        f"- {{name: kev, kind: kev, url: "
        f"{ADVISORIES / 'kev' / 'known_exploited_vulnerabilities-subset.json'}}}\n")
    return sources


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver: checks each alert's HMAC signature and prints it."""
    from hullcheck.errors import VerificationError
    from hullcheck.monitor.channels import verify_signature

    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                verify_signature(body, self.headers.get("X-Hullcheck-Signature"), HOOK_SECRET)
                signed = "signature verified"
            except VerificationError as exc:
                signed = f"BAD SIGNATURE: {exc}"
            event = json.loads(body)
            received.append(event)
            finding = event.get("finding") or {}
            package = finding.get("package") or {}
            print(f"   receiver <- {event['event']}: {finding.get('id', '-')} "
                  f"({finding.get('severity', '-')}) in {package.get('name', '-')} "
                  f"{package.get('version', '')} of {event['image'].get('repository')} "
                  f"[{signed}]", file=sys.stderr)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def wait_until(what: str, done: Callable[[], bool], seconds: float = 120.0) -> None:
    until = time.monotonic() + seconds
    while not done():
        if time.monotonic() > until:
            raise SystemExit(f"demo: gave up waiting for {what}")
        time.sleep(0.1)


def stay_up(url: str, token: str) -> None:
    """Print where the pages are; run on a terminal, keep serving them until Ctrl-C."""
    print(f"\n== the pages: {url}/ (sign in with the admin token {token})", file=sys.stderr)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    print("== serving until interrupted (Ctrl-C)", file=sys.stderr, flush=True)
    try:
        while True:  # in slices: Ctrl-C may reach another thread, and Python runs the handler
            time.sleep(0.5)  # only when the main thread executes bytecode again
    except KeyboardInterrupt:
        print("", file=sys.stderr)


def monitor_demo(ref: str) -> int:
    import httpx

    from hullcheck.fleet.model import DeliveryStatus, Scope
    from hullcheck.monitor.config import parse_config
    from hullcheck.monitor.service import Service
    from hullcheck.server.api_serve import ApiServer
    from hullcheck.server.pages import create_app  # the REST API and the web pages

    data, feed = OUT / "monitor", OUT / "monitor-feed"
    shutil.rmtree(data, ignore_errors=True)
    sources = write_feed(feed, late=False)
    with webhook_receiver() as (hook, received):
        config = parse_config(
            f"advisories: {{sources: {sources}}}\n"
            f"channels:\n  - {{name: demo, type: webhook, url: '{hook}', secret-env: HOOK_SECRET}}\n"
            "alerts:\n  - {name: everything, when: [new-finding, fixed-finding, "
            "finding-changed], channels: [demo]}\n",
            name="demo monitor.yaml", environ={"HOOK_SECRET": HOOK_SECRET})
        with Service.open(data_dir=data, config=config) as service:
            _, admin = service.create_token("demo-admin", Scope.ADMIN, actor="demo")
            _, writer = service.create_token("demo-ci", Scope.WRITE, actor="demo")
            server = ApiServer(create_app(service), host="127.0.0.1", port=0).start()
            service.start_worker()
            try:
                api = httpx.Client(base_url=server.url, timeout=60,
                                   headers={"Authorization": f"Bearer {admin}"})

                def settled() -> bool:  # every alert queued so far was delivered
                    return not service.store.deliveries(DeliveryStatus.PENDING, limit=1)

                def update() -> None:
                    job = api.post("/api/v1/advisories/update").json()["job"]
                    wait_until("the advisory update", lambda: api.get(job["url"]).json()[
                        "status"] in ("done", "failed"))
                    wait_until("the alerts", settled)

                print(f"\n== the monitoring service on {server.url}/api/v1 (data in {data}); "
                      f"advisories from {sources}", file=sys.stderr)
                update()
                print(f"== HULLCHECK_TOKEN=... hullcheck push {ref} --server {server.url} "
                      f"--name {SAMPLE_NAME}", file=sys.stderr)
                os.environ["HULLCHECK_TOKEN"] = writer
                code = main(["push", ref, "--server", server.url, "--name", SAMPLE_NAME, "-q"])
                if code:
                    return code
                wait_until("the alerts of the first scan", settled)
                first = len(received)
                print(f"== {LATE_ADVISORY} (urllib3 < 1.24.2) is published; an admin asks for "
                      "an update: POST /api/v1/advisories/update", file=sys.stderr)
                write_feed(feed, late=True)
                digest = api.get("/api/v1/images", params={"repository": SAMPLE_REPOSITORY}
                                 ).json()["images"][0]["digest"]

                def build() -> str | None:
                    image = api.get(f"/api/v1/images/{digest}").json()
                    return None if image["rematchQueued"] else image["matchedBuild"]

                matched = build()
                update()
                # the update job queues the re-match as jobs of its own: wait for the image
                # to be matched against the new build (not while it is queued), then its alerts
                wait_until("the re-match", lambda: build() not in (None, matched))
                wait_until("the alerts of the update", settled)
                late = [e for e in received[first:] if e["event"] == "new-finding"]
                print(f"== {len(late)} new alert(s) from the update: only the packages the "
                      "delta names were re-matched", file=sys.stderr)
                print("== hullcheck query --server ... --advisory CVE-2019-11324",
                      file=sys.stderr)
                os.environ["HULLCHECK_TOKEN"] = admin
                code = main(["query", "--server", server.url, "--advisory", "CVE-2019-11324",
                             "-o", "table"])
                stay_up(server.url, admin)
                return code
            finally:
                server.shutdown()
                service.stop_worker()


if __name__ == "__main__":
    sys.exit(run())
