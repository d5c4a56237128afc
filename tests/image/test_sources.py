"""Every image source reads the same image to the same tree, and picks the right image."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck import catalog, filetree
from hullcheck.errors import ImageError, UsageError
from hullcheck.image import Platform, open_image, split_source
from hullcheck.image.writer import ImageBuilder, write_oci_layout
from tests.fixtures.images import build, write

LAYERS = (
    {"etc/os-release": "ID=alpine\nVERSION_ID=3.19.1\n", "etc/alpine-release": "3.19.1\n",
     "bin/tool": "v1"},
    {"bin/tool": "v2", "srv/data.txt": "hello"},
)


@pytest.mark.parametrize("form", ["oci", "oci-archive", "docker-archive"])
def test_each_form_reads_the_same_tree(tmp_path: Path, form: str) -> None:
    img = build(*LAYERS)
    ref = write(img, tmp_path, form)
    image = open_image(ref)
    assert image.source.kind == form
    assert image.source.config_digest == img.config_digest
    assert [la.diff_id for la in image.layers] == [la.diff_id for la in img.layers]
    assert [la.created_by for la in image.layers] == ["RUN step 0", "RUN step 1"]
    tree = filetree.build(image, [*catalog.globs_for(), "/bin/*", "/srv/*"])
    assert tree.view().read("/bin/tool") == b"v2"
    assert tree.view(upto=0).read("/bin/tool") == b"v1"
    inv = catalog.run(tree, image.source)
    assert inv.distro is not None and (inv.distro.id, inv.distro.version_id) == ("alpine", "3.19.1")


def test_oci_manifest_digest_is_recorded(tmp_path: Path) -> None:
    img = build(*LAYERS)
    image = open_image(write(img, tmp_path, "oci"))
    assert image.source.manifest_digest == img.digest
    assert image.source.tags == ("latest",)


def test_detection_without_scheme(tmp_path: Path) -> None:
    img = build(*LAYERS)
    oci = write(img, tmp_path, "oci").removeprefix("oci:").rsplit(":", 1)[0]
    (tmp_path / "d").mkdir()
    darchive = write(img, tmp_path / "d", "docker-archive").removeprefix("docker-archive:")
    (tmp_path / "o").mkdir()
    oarchive = write(img, tmp_path / "o", "oci-archive").removeprefix("oci-archive:")
    assert split_source(oci)[0] == "oci"
    assert split_source(darchive)[0] == "docker-archive"
    assert split_source(oarchive)[0] == "oci-archive"
    assert split_source(str(tmp_path / "d"))[0] == "dir"
    assert split_source("debian:12") == ("registry", "debian:12")
    assert split_source("registry:example.org:5000/a/b:1") == ("registry", "example.org:5000/a/b:1")


def test_daemon_scheme_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError, match="container daemon") as info:
        split_source("docker:nginx:latest")
    assert "docker save" in info.value.hint


def test_tag_selection_in_oci_layout(tmp_path: Path) -> None:
    a = build({"etc/os-release": "ID=debian\nVERSION_ID=11\n"})
    b = build({"etc/os-release": "ID=debian\nVERSION_ID=12\n"})
    write_oci_layout(tmp_path / "lay", [(a, "11"), (b, "12")])
    assert open_image(f"oci:{tmp_path / 'lay'}:12").source.config_digest == b.config_digest
    assert open_image(f"oci:{tmp_path / 'lay'}:11").source.config_digest == a.config_digest
    with pytest.raises(UsageError, match="no image tagged '13'"):
        open_image(f"oci:{tmp_path / 'lay'}:13")


def test_platform_selection_in_an_index(tmp_path: Path) -> None:
    amd = ImageBuilder(architecture="amd64").add_layer({"arch": "amd64"}).build()
    arm = ImageBuilder(architecture="arm64", variant="v8").add_layer({"arch": "arm64"}).build()
    write_oci_layout(tmp_path / "multi", [(amd, "1"), (arm, "1")], platform_index=True)
    ref = f"oci:{tmp_path / 'multi'}"
    arm_img = open_image(ref, platform=Platform.parse("linux/arm64"))
    assert arm_img.source.config_digest == arm.config_digest
    assert arm_img.source.platform == "linux/arm64/v8"
    amd_img = open_image(ref, platform=Platform.parse("linux/amd64"))
    assert amd_img.source.config_digest == amd.config_digest
    with pytest.raises(UsageError, match="no image for platform linux/s390x"):
        open_image(ref, platform=Platform.parse("linux/s390x"))


def test_docker_archive_with_several_images_needs_a_tag(tmp_path: Path) -> None:
    import json
    import tarfile

    img = build(*LAYERS)
    path = Path(write(img, tmp_path, "docker-archive").removeprefix("docker-archive:"))
    # Duplicate the manifest entry under another tag, as `docker save a b` does.
    with tarfile.open(path) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    entries = json.loads(members["manifest.json"])
    entries.append(dict(entries[0], RepoTags=["other:2"]))
    members["manifest.json"] = json.dumps(entries).encode()
    import io

    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with pytest.raises(UsageError, match="holds 2 images"):
        open_image(f"docker-archive:{path}")
    assert open_image(f"docker-archive:{path}:other:2").source.tags == ("other:2",)


def test_dir_source_never_follows_links_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "usr/lib/os-release").write_text("ID=inside\nVERSION_ID=1\n")
    # An absolute link: on the host it would read the host's /etc/os-release.
    (root / "etc/os-release").symlink_to("/usr/lib/os-release")
    (root / "etc/escape").symlink_to("../../../../../../etc/hostname")
    image = open_image(f"dir:{root}")
    tree = filetree.build(image, (*catalog.globs_for(), "/etc/escape"))
    inv = catalog.run(tree, image.source)
    assert inv.distro is not None and inv.distro.id == "inside"
    assert tree.view().read("/etc/escape") is None  # resolves to /etc/hostname in the root: absent
    assert tree.view().resolve("/etc/escape") == "/etc/hostname"


def test_zstd_and_uncompressed_layers(tmp_path: Path) -> None:
    b = ImageBuilder()
    b.add_layer({"a": "zstd"}, compression="zstd")
    b.add_layer({"b": "plain"}, compression="none")
    b.add_layer({"c": "gzip"}, compression="gzip")
    write_oci_layout(tmp_path / "x", [(b.build(), None)])
    tree = filetree.build(open_image(f"oci:{tmp_path / 'x'}"), ["/*"])
    assert [tree.view().read(p) for p in ("/a", "/b", "/c")] == [b"zstd", b"plain", b"gzip"]


def test_docker_25_archive_with_compressed_blobs(tmp_path: Path) -> None:
    """Docker 25+ (containerd store) writes manifest.json naming blobs/sha256/<hex>, and
    index.json beside it; such blobs may be compressed, so they verify by their own name."""
    import io
    import json
    import tarfile

    img = build(*LAYERS)
    path = tmp_path / "d25.tar"
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        for digest, data in img.blobs().items():
            add(f"blobs/sha256/{digest.split(':')[1]}", data)
        add("manifest.json", json.dumps([{
            "Config": f"blobs/sha256/{img.config_digest.split(':')[1]}",
            "RepoTags": ["app:25"],
            "Layers": [f"blobs/sha256/{la.digest.split(':')[1]}" for la in img.layers],
        }]).encode())
        add("index.json", json.dumps({"schemaVersion": 2, "manifests": [img.descriptor()]}).encode())
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    image = open_image(f"docker-archive:{path}")
    assert image.source.tags == ("app:25",)
    tree = filetree.build(image, ["/bin/*"])
    assert tree.view().read("/bin/tool") == b"v2"


# -- a layout named without a tag: the image, not what is attached to it ----------------------


def _signed_layout(tmp_path: Path, key: Path, *tags: str) -> Path:
    """A layout holding one image per tag, the first signed and attested by the CLI."""
    from hullcheck.cli.main import main

    images = [build({"etc/os-release": f"ID=alpine\nVERSION_ID=3.19.{i}\n"})
              for i, _ in enumerate(tags)]
    write_oci_layout(tmp_path / "lay", zip(images, tags, strict=True))
    first = f"oci:{tmp_path / 'lay'}:{tags[0]}"
    assert main(["sign", first, "--key", str(key)]) == 0
    assert main(["attest", first, "--key", str(key), "--type", "cyclonedx", "--sbom", "-q"]) == 0
    return tmp_path / "lay"


def _index(layout: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((layout / "index.json").read_bytes())
    return doc


def test_signed_layout_is_read_without_a_tag(
    tmp_path: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from hullcheck.cli.main import main

    layout = _signed_layout(tmp_path, key_files[0], "1")
    entries = _index(layout)["manifests"]
    # image, .sig and .att tags, and the referrer (artifactType) of the attestation
    assert len(entries) == 4 and sum(1 for e in entries if e.get("artifactType")) == 1
    image = open_image(f"oci:{layout}")
    assert image.source.tags == ("1",) and image.source.manifest_digest == entries[0]["digest"]
    capsys.readouterr()
    assert main(["sbom", f"oci:{layout}", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["distro"]["versionId"] == "3.19.0"
    # Other tools list a referrer without repeating its artifactType: its manifest's
    # subject tells it apart.
    doc = _index(layout)
    for e in doc["manifests"]:
        e.pop("artifactType", None)
    (layout / "index.json").write_text(json.dumps(doc))
    assert open_image(f"oci:{layout}").source.manifest_digest == entries[0]["digest"]


def test_several_images_without_a_tag_are_listed(
    tmp_path: Path, key_files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from hullcheck.cli.main import main

    layout = _signed_layout(tmp_path, key_files[0], "app-1", "app-2")
    doc = _index(layout)
    untagged = dict(doc["manifests"][1], annotations="not a mapping")  # hostile, not a crash
    doc["manifests"].append(untagged)
    (layout / "index.json").write_text(json.dumps(doc))
    digests = [e["digest"][:19] for e in doc["manifests"][:2]]
    expected = (f"oci:{layout} holds 3 images: app-1 ({digests[0]}), app-2 ({digests[1]}), "
                f"untagged ({digests[1]}); name one with oci:{layout}:TAG")
    with pytest.raises(UsageError) as info:
        open_image(f"oci:{layout}")
    assert str(info.value) == expected
    capsys.readouterr()
    assert main(["sbom", f"oci:{layout}", "-o", "json"]) == 2
    assert expected in capsys.readouterr().err
    assert open_image(f"oci:{layout}:app-2").source.manifest_digest == doc["manifests"][1]["digest"]


def test_platform_variants_side_by_side_are_chosen_by_platform(tmp_path: Path) -> None:
    amd = ImageBuilder(architecture="amd64").add_layer({"arch": "amd64"}).build()
    arm = ImageBuilder(architecture="arm64").add_layer({"arch": "arm64"}).build()
    write_oci_layout(tmp_path / "lay", [(amd, None), (arm, None)])
    doc = _index(tmp_path / "lay")
    for entry, arch in zip(doc["manifests"], ("amd64", "arm64"), strict=True):
        entry["platform"] = {"os": "linux", "architecture": arch}
    # buildkit's attestation manifest beside them
    doc["manifests"].append(dict(doc["manifests"][0],
                                 platform={"os": "unknown", "architecture": "unknown"}))
    (tmp_path / "lay" / "index.json").write_text(json.dumps(doc))
    ref = f"oci:{tmp_path / 'lay'}"
    assert open_image(ref, platform=Platform.parse("linux/arm64")).source.platform == "linux/arm64"
    assert open_image(ref, platform=Platform.parse("linux/amd64")).source.platform == "linux/amd64"


def test_a_layout_of_signatures_only_says_so(
    tmp_path: Path, key_files: tuple[Path, Path, Path]
) -> None:
    layout = _signed_layout(tmp_path, key_files[0], "1")
    doc = _index(layout)
    doc["manifests"] = doc["manifests"][1:]
    (layout / "index.json").write_text(json.dumps(doc))
    with pytest.raises(ImageError, match="lists only signatures or attestations, no image"):
        open_image(f"oci:{layout}")


def test_docker_archive_with_malformed_repo_tags_is_an_input_error(tmp_path: Path) -> None:
    """RepoTags that is not a list of strings is not a crash."""
    import tarfile as _tarfile

    archive = tmp_path / "bad.tar"
    manifest = json.dumps([{"Config": "x.json", "Layers": [], "RepoTags": {"a": 1}},
                           {"Config": "y.json", "Layers": [], "RepoTags": [1, None]}]).encode()
    with _tarfile.open(archive, "w") as tf:
        info = _tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tf.addfile(info, io.BytesIO(manifest))
    with pytest.raises(UsageError, match="archive holds 2 images"):
        open_image(f"docker-archive:{archive}")
    with pytest.raises(UsageError, match="no image tagged 'app'"):
        open_image(f"docker-archive:{archive}:app")


def _docker_archive_of_one_layer_named(times: int, path: Path) -> Path:
    """A docker-archive whose manifest.json names one (tiny, real) layer member ``times``
    times, with as many diff_ids in its config: within the archive's caps."""
    import hashlib
    import tarfile

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("f")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id] * times}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["many:1"],
                            "Layers": ["layer.tar"] * times}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in (("manifest.json", manifest), (config_name, config),
                           ("layer.tar", layer_bytes)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_an_image_of_more_layers_than_the_tree_can_name_is_refused_when_opened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """65,537 layers (one member named that often): refused with one line before any layer is
    read (reading them started a thread per layer and loaded the machine for minutes)."""
    from hullcheck.cli.main import main
    from hullcheck.filetree import tree
    from hullcheck.image import model

    assert model.MAX_LAYERS == tree.MAX_LAYERS  # the tree's refs name a layer in its bits
    archive = _docker_archive_of_one_layer_named(model.MAX_LAYERS + 1, tmp_path / "many.tar")
    with pytest.raises(ImageError, match="the image has 65,537 layers; at most 65,536"):
        open_image(f"docker-archive:{archive}")
    assert main(["sbom", f"docker-archive:{archive}", "-o", "json"]) == 2
    err = capsys.readouterr().err
    assert "the image has 65,537 layers; at most 65,536 can be read" in err
    assert "Traceback" not in err
