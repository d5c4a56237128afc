"""Every configuration check fails on one image and passes on another, both real images
built with the writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hullcheck import misconfig
from hullcheck.cli.main import main
from hullcheck.image import open_image
from hullcheck.image.writer import Entry, ImageBuilder, directory, file, whiteout, write_oci_layout
from hullcheck.misconfig import Status

GOOD: dict[str, Any] = {
    "user": "1000:1000",
    "healthcheck": ["CMD", "/app/health"],
    "annotations": {"org.opencontainers.image.base.name": "docker.io/library/debian:12-slim"},
}


def image(tmp: Path, *layers: list[Entry], history: tuple[str, ...] = (), **kw: Any) -> str:
    b = ImageBuilder(**{**GOOD, **kw})
    for i, entries in enumerate(layers or ([file("app/main", "x")],)):
        b.add_layer(entries, created_by=history[i] if i < len(history) else f"COPY step {i}")
    dest = tmp / f"img-{len(list(tmp.iterdir()))}"
    write_oci_layout(dest, [(b.build(), "t")])
    return f"oci:{dest}:t"


def status(ref: str, check_id: str) -> tuple[Status, tuple[str, ...]]:
    report = misconfig.run(open_image(ref))
    r = next(r for r in report.results if r.id == check_id)
    return r.status, r.evidence


# check id → (builder arguments of a failing image, of a passing one)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "HC-C001": ({"user": ""}, {"user": "app"}),
    "HC-C002": ({"healthcheck": None}, {"healthcheck": ["CMD-SHELL", "curl -f localhost"]}),
    "HC-C003": ({"history": ("ADD https://example.org/tool.tgz /opt/ # buildkit",)},
                {"history": ("ADD file:3f1c0d in / ",)}),
    "HC-C004": ({"layers": ([file("var/lib/apt/lists/deb.debian.org_dists_Release", "x"),
                             file("var/lib/apt/lists/lock", "")],)},
                {"layers": ([directory("var/lib/apt/lists"),
                             file("var/lib/apt/lists/lock", "")],)}),
    "HC-C005": ({"exposed_ports": ["22/tcp"]}, {"exposed_ports": ["8080/tcp"]}),
    "HC-C006": ({"layers": ([file("usr/local/bin/helper", "x", mode=0o4755)],)},
                {"layers": ([file("usr/bin/passwd", "x", mode=0o4755),
                             file("usr/local/bin/helper", "x", mode=0o755)],)}),
    "HC-C007": ({"layers": ([directory("srv/drop", mode=0o777)],)},
                {"layers": ([directory("tmp", mode=0o1777)],)}),
    "HC-C008": ({"annotations": {"org.opencontainers.image.base.name": "debian:latest"}},
                {"annotations": {"org.opencontainers.image.base.name":
                                 "debian@sha256:" + "a" * 64}}),
    "HC-C009": ({"history": ("RUN /bin/sh -c curl -fsSL https://get.example.sh | sh",)},
                {"history": ("RUN /bin/sh -c curl -fsSLo /tmp/i.sh https://get.example.sh",)}),
    "HC-C010": ({"volumes": ["/var/run/docker.sock"]}, {"volumes": ["/data"]}),
    "HC-C011": ({"history": ("RUN /bin/sh -c apt-get update",)},
                {"history": ("RUN /bin/sh -c apt-get update && apt-get install -y curl",)}),
}


def build_case(tmp: Path, args: dict[str, Any]) -> str:
    args = dict(args)
    layers = args.pop("layers", ())
    return image(tmp, *layers, **args)


def test_every_check_has_a_case() -> None:
    assert sorted(CASES) == sorted(c.id for c in misconfig.CHECKS)


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_check_fails_and_passes(check_id: str, tmp_path: Path) -> None:
    failing, passing = CASES[check_id]
    st, evidence = status(build_case(tmp_path, failing), check_id)
    assert st is Status.FAIL and evidence
    assert status(build_case(tmp_path, passing), check_id) == (Status.PASS, ())


def test_a_well_built_image_passes_everything(tmp_path: Path) -> None:
    ref = image(tmp_path)
    assert misconfig.check(open_image(ref)) == ()


def test_sshd_binary_and_setid_evidence(tmp_path: Path) -> None:
    ref = image(tmp_path, [file("usr/sbin/sshd", "x", mode=0o755),
                           file("usr/bin/odd", "x", mode=0o2755)])
    assert status(ref, "HC-C005")[1] == ("/usr/sbin/sshd is installed",)
    assert status(ref, "HC-C006")[1] == ("/usr/bin/odd (setgid, mode 2755)",)


def test_package_caches_are_counted_per_directory(tmp_path: Path) -> None:
    ref = image(tmp_path, [
        file("var/lib/apt/lists/deb.debian.org_Packages", "a" * 100),
        file("var/lib/apt/lists/partial/half", "b" * 7),  # apt's own work dirs are not a cache
        file("var/lib/apt/lists/lock", ""),
        file("var/lib/apt/listsmore/x", "c"),  # not under the directory
        file("root/.cache/pip/http/ab/cd", "d" * 10), file("root/.cache/pip/wheels/w.whl", "e"),
        file("var/cache/apk/APKINDEX.tar.gz", "f" * 3),
        directory("root/.npm"),  # a directory alone is no cache
        file("usr/bin/setid-b", "x", mode=0o4755), file("usr/bin/setid-a", "x", mode=0o6755),
        directory("srv/shared", mode=0o777), directory("srv/tmp", mode=0o1777),
        file("srv/open.txt", "x", mode=0o666)])
    assert status(ref, "HC-C004") == (Status.FAIL, (
        "/var/lib/apt/lists: 1 files, 100 bytes", "/var/cache/apk: 1 files, 3 bytes",
        "/root/.cache/pip: 2 files, 11 bytes"))
    assert status(ref, "HC-C006")[1] == ("/usr/bin/setid-a (setuid+setgid, mode 6755)",
                                         "/usr/bin/setid-b (setuid, mode 4755)")
    assert status(ref, "HC-C007")[1] == ("/srv/open.txt (file, mode 0666)",
                                         "/srv/shared (dir, mode 0777)")


def test_deleted_setid_file_is_not_in_the_final_view(tmp_path: Path) -> None:
    ref = image(tmp_path, [file("usr/local/bin/helper", "x", mode=0o4755)],
                [whiteout("usr/local/bin/helper")])
    assert status(ref, "HC-C006") == (Status.PASS, ())


def test_base_tag_without_annotation_is_not_applicable(tmp_path: Path) -> None:
    assert status(image(tmp_path, annotations={}), "HC-C008")[0] is Status.NOT_APPLICABLE
    labelled = image(tmp_path, annotations={},
                     labels={"org.opencontainers.image.base.name": "alpine"})
    assert status(labelled, "HC-C008") == (Status.FAIL, ("base alpine has no tag (means latest)",))


def test_findings_carry_cis_and_remediation(tmp_path: Path) -> None:
    found = {f.id: f for f in misconfig.check(open_image(image(tmp_path, user="root")))}
    assert list(found) == ["HC-C001"]
    assert found["HC-C001"].cis == "4.1" and "USER" in found["HC-C001"].remediation


def test_cli_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 make_image: Callable[..., str]) -> None:
    bad = image(tmp_path, user="", volumes=["/"])
    assert main(["config", bad, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in doc["findings"]] == ["HC-C001", "HC-C010"]
    assert doc["findings"][1]["cis"] == "5.5" and doc["findings"][1]["evidence"] == ["VOLUME /"]
    assert len(doc["checks"]) == len(misconfig.CHECKS)
    assert main(["config", bad, "-o", "json", "--fail-on", "high"]) == 1
    assert main(["config", image(tmp_path), "-o", "table", "--fail"]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_run_walks_the_tree_once_and_lets_go_of_it(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck import filetree
    from hullcheck.filetree.tree import View
    from hullcheck.misconfig import checks

    img = open_image(image(tmp_path, [file("usr/bin/odd", "x", mode=0o4755)]))
    tree = filetree.build(img, ())
    walks = []
    real = View.files

    def counted(self: View) -> Any:
        walks.append(1)
        return real(self)

    monkeypatch.setattr(View, "files", counted)
    assert misconfig.run(img, tree).findings  # runs as root, setid file, ...
    assert len(walks) == 1  # package caches, set-id and world-writable share one walk
    assert tree not in checks._FILES  # the entries are not kept with the tree
