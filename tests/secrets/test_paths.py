"""Which paths hold a language package's tests, examples or documentation (low confidence),
and a package file reached through merged /usr's directory links."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from hullcheck import pipeline
from hullcheck.image.writer import file, symlink
from hullcheck.secrets.paths import example_reason
from tests.secrets import fakes

TESTS = "in a language package's tests or examples"
DOCS = "in a language package's documentation or type declarations"


@pytest.mark.parametrize(("path", "reason"), [
    ("/usr/lib/python3/dist-packages/jose/tests/test_jwt.py", TESTS),
    ("/opt/venv/lib/python3.12/site-packages/boto3/examples/s3.rst", TESTS),
    ("/usr/lib/python3.11/test/keycert.pem", TESTS),
    ("/usr/lib/python3.11/test_ssl.py", TESTS),
    ("/srv/app/node_modules/jsonwebtoken/README.md", DOCS),
    ("/srv/app/node_modules/@types/node/url.d.ts", DOCS),
    ("/usr/share/nodejs/@types/node/ts4.8/http.d.ts", DOCS),
    ("/srv/app/node_modules/a/node_modules/b/__tests__/x.js", TESTS),
    ("/usr/local/bundle/gems/jwt-2.7.1/spec/jwt_spec.rb", TESTS),
    ("/app/vendor/firebase/php-jwt/CHANGELOG.md", DOCS),
    # Not in a language package: the application's own tests and files, anything else.
    ("/app/tests/fixtures/key.pem", ""),
    ("/srv/app/README.md", ""),
    ("/usr/lib/x86_64-linux-gnu/acme/deploy.pem", ""),
    ("/etc/ssl/private/server.key", ""),
    # In a package, but its code: a key there is no example.
    ("/usr/lib/python3/dist-packages/acme/settings.py", ""),
    ("/srv/app/node_modules/config/index.js", ""),
])
def test_example_reason(path: str, reason: str) -> None:
    assert example_reason(path) == reason


def test_a_package_file_behind_merged_usr_links(make_image: Callable[..., str]) -> None:
    """dpkg records /bin/tool; the layer writes usr/bin/tool with /bin -> usr/bin: the same
    file, unchanged, so its match is the distro's. A second, changed copy is reported."""
    body = f"url = https://deploy:{fakes.rand(fakes.ALNUM, 20)}@example.org/x\n".encode()
    md5 = hashlib.md5(body).hexdigest()
    status = ("Package: tool\nStatus: install ok installed\nVersion: 1.0\n"
              "Architecture: amd64\nDescription: a tool\n")
    ref = make_image([symlink("bin", "usr/bin"), file("usr/bin/tool", body),
                      file("usr/bin/other", body + b"# changed\n"),
                      file("var/lib/dpkg/status", status),
                      file("var/lib/dpkg/info/tool.list", "/.\n/bin\n/bin/tool\n/bin/other\n"),
                      file("var/lib/dpkg/info/tool.md5sums",
                           f"{md5}  bin/tool\n{md5}  bin/other\n")])
    report = pipeline.secrets_scan(pipeline.SecretsRequest(image=ref))
    assert [(f.path, f.rule_id) for f in report.findings] == [("/usr/bin/other", "url-password")]
    assert (report.skipped.package_files, report.skipped.package_matches) == (1, 1)


def test_the_readmes_secret_config_example_is_a_valid_config() -> None:
    from pathlib import Path

    from hullcheck import untrusted
    from hullcheck.secrets import Scanner, parse_config

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### Secrets"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", 1)]
    cfg = parse_config(untrusted.yaml_document(example, what="README"), name="README")
    assert cfg.rules[-1].id == "acme-api-token" and cfg.disabled == ("jwt",)
    assert cfg.allow_paths == ("^/usr/share/doc/", "/fixtures/")
    scanner = Scanner(cfg)
    hits = scanner.scan_bytes(b"k = acme_" + b"0123456789abcdef" * 2, "/app/.env")
    assert [h.rule.id for h in hits] == ["acme-api-token"]
