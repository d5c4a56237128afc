"""Passwords given to curl and wget on the command line (``curl -u user:password``), in files
and in the image history, found and never printed in clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.image.writer import ImageBuilder, write_oci_layout
from hullcheck.secrets import Origin, Scanner
from tests.secrets.fakes import ALNUM, rand

PASSWORD = rand(ALNUM, 14, 3)
RULE = "command-line-password"


def _secrets(text: str) -> list[str]:
    data = text.encode()
    return [data[h.start:h.end].decode() for h in Scanner().scan_bytes(data) if h.rule.id == RULE]


@pytest.mark.parametrize("command", [
    f"curl -fsSL -u deploy:{PASSWORD} https://repo.example.org/pkg.tgz -o /tmp/pkg.tgz",
    f"/bin/sh -c curl --user deploy:{PASSWORD} https://repo.example.org/x",
    f"curl -udeploy:{PASSWORD} https://repo.example.org/x",
    f"curl -u 'deploy:{PASSWORD}' https://repo.example.org/x",
    f'curl -U "proxy:{PASSWORD}" https://repo.example.org/x',
    f"curl --proxy-user proxy:{PASSWORD} https://repo.example.org/x",
    f"/usr/bin/curl -fsSL \\\n    -u deploy:{PASSWORD} \\\n    https://repo.example.org/x",
    f"curl 'https://repo.example.org/x?a=1&b=2' -u deploy:{PASSWORD}",
    f"wget --password={PASSWORD} https://repo.example.org/x",
    f"wget --user=deploy --http-password {PASSWORD} https://repo.example.org/x",
    f"wget --ftp-password='{PASSWORD}' ftp://repo.example.org/x",
    f"wget --proxy-passwd={PASSWORD} https://repo.example.org/x",
])
def test_password_on_the_command_line_is_found(command: str) -> None:
    assert _secrets(command) == [PASSWORD]


@pytest.mark.parametrize("command", [
    "curl -fsSL -u deploy https://repo.example.org/x",  # curl asks for the password
    "curl -u $REPO_USER:$REPO_PASS https://repo.example.org/x",
    'curl -u "${REPO_USER}:${REPO_PASS}" https://repo.example.org/x',
    "curl -u user:$(cat /run/secrets/repo) https://repo.example.org/x",
    "curl -u user:password https://repo.example.org/x",  # the manual's example
    "wget --password=${WGET_PASSWORD} https://repo.example.org/x",
    "wget --ask-password https://repo.example.org/x",
    # -u of another command in the same RUN line is not curl's
    f"curl -fsSL https://x.example.org/i.sh -o i.sh && useradd -u 1000:{PASSWORD} app",
    f"curl -fsSL https://x.example.org/i.sh | sudo -u app:{PASSWORD} sh",
    f"curl -fsSL https://x.example.org/i.sh; docker run -u 1000:{PASSWORD} app",
    f"curl --user-agent 'Mozilla/5.0 (X11:{PASSWORD})' https://x.example.org/",
    f"libcurl-config -u a:{PASSWORD}",
])
def test_not_a_password_on_the_command_line(command: str) -> None:
    assert _secrets(command) == []


def test_curl_password_in_history_is_a_finding_and_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = ImageBuilder()
    b.add_layer({"etc/os-release": "ID=debian\nVERSION_ID=12\n"}, created_by="ADD rootfs /")
    b.add_layer({"opt/app/run": "#!/bin/sh\n"},
                created_by=f"RUN /bin/sh -c curl -fsSL -u deploy:{PASSWORD} "
                           "https://repo.example.org/install.sh | sh")
    write_oci_layout(tmp_path / "oci", [(b.build(), "t")])
    ref = f"oci:{tmp_path / 'oci'}:t"
    assert main(["secrets", ref, "-o", "json", "--fail"]) == 1
    out, err = capsys.readouterr()
    found = [f for f in json.loads(out)["findings"] if f["ruleId"] == RULE]
    assert [(f["origin"], f["path"]) for f in found] == [(Origin.HISTORY.value, "config:history/1")]
    assert found[0]["match"] == "curl -fsSL -u deploy:" + PASSWORD[:3] + "*****"
    outputs = [out + err]
    for argv in (["scan", ref, "--scanners", "secret,config", "-o", "json"],
                 ["config", ref, "-o", "json"], ["sbom", ref, "-o", "json"],
                 ["sbom", ref, "-o", "spdx-json"], ["sbom", ref, "-o", "cyclonedx-xml"]):
        main(argv)
        outputs.append("".join(capsys.readouterr()))
        assert "-u deploy:" + PASSWORD[:3] + "*****" in outputs[-1], argv  # the line is shown
    assert all(PASSWORD not in text and PASSWORD[3:] not in text for text in outputs)
