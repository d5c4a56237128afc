"""Images hullcheck did not write: layers built by ``umoci`` (which computes whiteouts,
opaque directories and hard links itself), then converted by ``skopeo`` to a docker
archive, an OCI archive and zstd layers. hullcheck's file tree and SBOM of each must show
exactly the files, deletions and link targets the steps below made, and every view (as of
each layer) must agree with ``umoci unpack`` of the same image, another implementation of
the same layer rules.

The steps, one layer each:

0. ``umoci repack``: an OS release file and a hard link to it, a Python package ``foo``,
   files, a directory tree, a hard-linked pair, a relative and an absolute symlink;
1. ``umoci repack``: a file deleted (a whiteout), a directory deleted and made again (its
   old contents whited out one by one), a new hard-linked pair, the first name of another
   pair given a new file (umoci writes both names again, as two files);
2. ``umoci insert --opaque``: ``dist-packages`` replaced (an opaque directory): ``foo``
   gone, ``bar`` in its place;
3. ``umoci insert --whiteout``: the first name of a hard-linked pair deleted;
4. ``umoci insert``: a new file at the first name of another pair.
After 3 and 4 the second names keep the files they were linked to, as in a container.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hullcheck import filetree
from hullcheck.cli.main import main
from hullcheck.errors import UnsafeLayer
from hullcheck.filetree import FileTree, Kind
from hullcheck.image import open_image
from hullcheck.tarstream import TarReader
from tests.fixtures.tools import need_command

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
SITE = "/usr/lib/python3/dist-packages"
FOO, BAR = f"{SITE}/foo-1.0.dist-info", f"{SITE}/bar-2.0.dist-info"
TAGS = ("v0", "v1", "v2", "v3", "v4")  # the image after each step: vN has layers 0..N
LAST = TAGS[-1]


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


# What each step leaves in the rootfs, written by hand (not by hullcheck, not by umoci):
# path -> (kind, link target). Of two names of one file, the tar holds the data under the
# first it meets (umoci walks in name order: /etc before /usr) and links the other to it.
DIR, FILE, HARD, LINK = Kind.DIR, Kind.FILE, Kind.HARDLINK, Kind.SYMLINK
LAYER0: dict[str, tuple[Kind, str]] = {
    "/etc": (DIR, ""), "/etc/os-release": (FILE, ""),
    "/usr": (DIR, ""), "/usr/lib": (DIR, ""), "/usr/lib/os-release": (HARD, "/etc/os-release"),
    "/usr/lib/python3": (DIR, ""), SITE: (DIR, ""), FOO: (DIR, ""),
    f"{FOO}/METADATA": (FILE, ""),
    "/srv": (DIR, ""), "/srv/app": (DIR, ""), "/srv/app/keep.txt": (FILE, ""),
    "/srv/app/gone.txt": (FILE, ""), "/srv/current": (LINK, "app"),
    "/srv/abs": (LINK, "/srv/app/keep.txt"),
    "/srv/data": (DIR, ""), "/srv/data/old": (FILE, ""), "/srv/data/sub": (DIR, ""),
    "/srv/data/sub/x": (FILE, ""),
    "/opt": (DIR, ""), "/opt/bin": (DIR, ""), "/opt/bin/tool": (FILE, ""),
    "/opt/bin/tool-hard": (HARD, "/opt/bin/tool"), "/opt/bin/cfg": (FILE, ""),
    "/opt/bin/cfg-hard": (HARD, "/opt/bin/cfg"),
}
DELETED1 = ("/srv/app/gone.txt", "/srv/data/old", "/srv/data/sub", "/srv/data/sub/x")
ADDED1 = {"/srv/data/new": (FILE, ""), "/opt/bin/v2": (FILE, ""),
          "/opt/bin/v2-hard": (HARD, "/opt/bin/v2"), "/opt/bin/cfg": (FILE, ""),
          "/opt/bin/cfg-hard": (FILE, "")}
DELETED2 = (FOO, f"{FOO}/METADATA")
ADDED2 = {BAR: (DIR, ""), f"{BAR}/METADATA": (FILE, "")}
DELETED3 = ("/opt/bin/tool",)


def _after(before: dict[str, tuple[Kind, str]], deleted: tuple[str, ...],
           added: dict[str, tuple[Kind, str]]) -> dict[str, tuple[Kind, str]]:
    return {**{p: v for p, v in before.items() if p not in deleted}, **added}


LAYER1 = _after(LAYER0, DELETED1, ADDED1)
LAYER2 = _after(LAYER1, DELETED2, ADDED2)
LAYER3 = _after(LAYER2, DELETED3, {})
LAYER4 = LAYER3  # the same shape: /opt/bin/v2 is a new file, v2-hard the old one
EXPECTED = (LAYER0, LAYER1, LAYER2, LAYER3, LAYER4)
# Every deleted path and the layer whose whiteout (or opaque marker) deleted it.
DELETED_AT = {**dict.fromkeys(DELETED1, 1), **dict.fromkeys(DELETED2, 2),
              **dict.fromkeys(DELETED3, 3)}
# bar's METADATA is the last member of umoci insert's layer, which umoci 0.4.7 ends without
# a tar footer: padded to 512 bytes so that no padding is missing either (for a shorter one,
# see test_a_layer_umoci_cut_short_is_refused_in_one_line).
BAR_METADATA = _metadata("bar", "2.0").ljust(511, b"#") + b"\n"
# What the steps write at each name, before any is changed.
CONTENT = {"/etc/os-release": OS_RELEASE, f"{FOO}/METADATA": _metadata("foo", "1.0"),
           f"{BAR}/METADATA": BAR_METADATA, "/srv/app/keep.txt": b"keep\n",
           "/srv/app/gone.txt": b"gone\n", "/srv/data/old": b"old\n",
           "/srv/data/sub/x": b"x\n", "/srv/data/new": b"new\n", "/opt/bin/tool": b"tool\n",
           "/opt/bin/v2": b"v2\n", "/opt/bin/cfg": b"cfg 1\n"}
CFG_AGAIN = b"cfg, second version\n"  # /opt/bin/cfg from layer 1 on; cfg-hard keeps cfg 1
V2_AGAIN = b"v2, replaced\n".ljust(512)  # /opt/bin/v2 in layer 4 (512 bytes: see BAR_METADATA)
# What a container reads at each name at the end.
FINAL_CONTENT = {"/etc/os-release": OS_RELEASE, "/usr/lib/os-release": OS_RELEASE,
                 f"{BAR}/METADATA": BAR_METADATA, "/srv/app/keep.txt": b"keep\n",
                 "/srv/data/new": b"new\n", "/opt/bin/tool-hard": b"tool\n",
                 "/opt/bin/v2": V2_AGAIN, "/opt/bin/v2-hard": b"v2\n",
                 "/opt/bin/cfg": CFG_AGAIN, "/opt/bin/cfg-hard": b"cfg 1\n"}


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr.strip()}"
    return proc.stdout


def _put(root: Path, path: str, data: bytes) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


@dataclass
class Foreign:
    """The umoci layout (tags v0..v4) and, for each tag, umoci's own unpacked rootfs."""

    layout: Path
    unpacked: dict[str, Path] = field(default_factory=dict)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Foreign:
    umoci = need_command("umoci", "umoci")
    work = tmp_path_factory.mktemp("umoci")
    layout, bundle = work / "layout", work / "bundle"
    rootfs = bundle / "rootfs"
    _run(umoci, "init", "--layout", str(layout))
    _run(umoci, "new", "--image", f"{layout}:empty")
    _run(umoci, "unpack", "--image", f"{layout}:empty", str(bundle))

    def repack(tag: str) -> None:
        _run(umoci, "repack", "--refresh-bundle", "--image", f"{layout}:{tag}", str(bundle))

    # 0: files, links, a package.
    for path in ("/etc/os-release", f"{FOO}/METADATA", "/srv/app/keep.txt",
                 "/srv/app/gone.txt", "/srv/data/old", "/srv/data/sub/x", "/opt/bin/tool",
                 "/opt/bin/cfg"):
        _put(rootfs, path, CONTENT[path])
    os.link(rootfs / "etc/os-release", rootfs / "usr/lib/os-release")
    os.link(rootfs / "opt/bin/tool", rootfs / "opt/bin/tool-hard")
    os.link(rootfs / "opt/bin/cfg", rootfs / "opt/bin/cfg-hard")
    os.symlink("app", rootfs / "srv/current")
    os.symlink("/srv/app/keep.txt", rootfs / "srv/abs")
    repack("v0")
    # 1: a file deleted, a directory deleted and made again, a new hard-linked pair.
    (rootfs / "srv/app/gone.txt").unlink()
    for p in ("srv/data/sub/x", "srv/data/old"):
        (rootfs / p).unlink()
    (rootfs / "srv/data/sub").rmdir()
    (rootfs / "srv/data").rmdir()
    _put(rootfs, "/srv/data/new", CONTENT["/srv/data/new"])
    _put(rootfs, "/opt/bin/v2", CONTENT["/opt/bin/v2"])
    os.link(rootfs / "opt/bin/v2", rootfs / "opt/bin/v2-hard")
    (rootfs / "opt/bin/cfg").unlink()  # a new file under the name; cfg-hard keeps the old
    _put(rootfs, "/opt/bin/cfg", CFG_AGAIN)
    repack("v1")
    # 2: dist-packages replaced whole (opaque).
    replacement = work / "site"
    _put(replacement, f"/{BAR.rsplit('/', 1)[1]}/METADATA", CONTENT[f"{BAR}/METADATA"])
    _run(umoci, "tag", "--image", f"{layout}:v1", "v2")
    _run(umoci, "insert", "--image", f"{layout}:v2", "--opaque", str(replacement), SITE)
    # 3: one name of a hard-linked pair deleted.
    _run(umoci, "tag", "--image", f"{layout}:v2", "v3")
    _run(umoci, "insert", "--image", f"{layout}:v3", "--whiteout", "/opt/bin/tool")
    # 4: a new file at one name of a hard-linked pair.
    _put(work, "/v2-again", V2_AGAIN)
    _run(umoci, "tag", "--image", f"{layout}:v3", "v4")
    _run(umoci, "insert", "--image", f"{layout}:v4", str(work / "v2-again"), "/opt/bin/v2")
    out = Foreign(layout)
    for tag in TAGS:
        out.unpacked[tag] = work / f"unpacked-{tag}" / "rootfs"
        _run(umoci, "unpack", "--image", f"{layout}:{tag}", str(out.unpacked[tag].parent))
    return out


def _layer_blobs(layout: Path, tag: str) -> list[Path]:
    """The gzip layer files of ``tag`` in umoci's layout, in order."""
    index = json.loads((layout / "index.json").read_bytes())
    [desc] = [m for m in index["manifests"]
              if m["annotations"]["org.opencontainers.image.ref.name"] == tag]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / desc["digest"].split(":")[1]).read_bytes())
    return [blobs / layer["digest"].split(":")[1] for layer in manifest["layers"]]


def _layers(layout: Path, tag: str) -> list[list[str]]:
    """``tar -tvzf`` of each layer of ``tag``, as umoci wrote it: one line a member."""
    return [_run("tar", "-tvzf", str(blob)).splitlines() for blob in _layer_blobs(layout, tag)]


def test_umoci_wrote_whiteouts_an_opaque_directory_and_hard_links(foreign: Foreign) -> None:
    """The layers hold what this file is about, as umoci wrote them (read back by tar)."""
    layers = _layers(foreign.layout, LAST)
    names = [[line.split()[5] for line in layer] for layer in layers]
    assert len(names) == 5
    assert {"srv/app/.wh.gone.txt", "srv/data/.wh.old", "srv/data/.wh.sub"} <= set(names[1])
    assert f"{SITE.lstrip('/')}/.wh..wh..opq" in names[2]
    assert names[3] == ["opt/bin/.wh.tool"]
    assert names[4] == ["opt/bin/v2"]
    hard = {(line.split()[5], line.split()[-1]) for layer in layers for line in layer
            if line.startswith("h")}
    assert hard == {("usr/lib/os-release", "etc/os-release"), ("opt/bin/cfg-hard", "opt/bin/cfg"),
                    ("opt/bin/tool-hard", "opt/bin/tool"), ("opt/bin/v2-hard", "opt/bin/v2")}
    assert any(line.split()[5] == "opt/bin/cfg" for line in layers[1])  # the new cfg


# -- hullcheck's reading of them --------------------------------------------------------------


@pytest.fixture(scope="module")
def forms(foreign: Foreign, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The final image as hullcheck arguments: umoci's own layout, and skopeo's
    copies of it as a docker archive, an OCI archive and a layout with zstd layers."""
    skopeo = need_command("skopeo", "skopeo")
    out = tmp_path_factory.mktemp("skopeo")
    src = f"oci:{foreign.layout}:{LAST}"
    _run(skopeo, "copy", "-q", src, f"docker-archive:{out / 'docker.tar'}:foreign:{LAST}")
    _run(skopeo, "copy", "-q", src, f"oci-archive:{out / 'image.oci.tar'}:{LAST}")
    _run(skopeo, "copy", "-q", "--dest-compress-format", "zstd", src, f"oci:{out / 'zstd'}:{LAST}")
    return {"umoci oci": src, "skopeo docker-archive": f"docker-archive:{out / 'docker.tar'}",
            "skopeo oci-archive": f"oci-archive:{out / 'image.oci.tar'}:{LAST}",
            "skopeo oci zstd": f"oci:{out / 'zstd'}:{LAST}"}


def _shape(tree: FileTree, upto: int) -> dict[str, tuple[Kind, str]]:
    return {e.path: (e.kind, e.link) for e in tree.view(upto).files()}


def _deleted(tree: FileTree) -> dict[str, int]:
    """Each path no longer present, and the layer that deleted it."""
    return {path: versions[-1][0] for path, versions in tree.versions.items()
            if versions[-1][1] is None}


def test_the_forms_hold_what_they_say(forms: dict[str, str]) -> None:
    media = {name: {layer.media_type for layer in open_image(ref).layers}
             for name, ref in forms.items()}
    assert media["umoci oci"] == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert media["skopeo oci zstd"] == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    assert media["skopeo docker-archive"] == {"application/vnd.docker.image.rootfs.diff.tar"}
    assert {open_image(ref).source.kind for ref in forms.values()} == {
        "oci", "docker-archive", "oci-archive"}


@pytest.mark.parametrize("form", ["umoci oci", "skopeo docker-archive", "skopeo oci-archive",
                                  "skopeo oci zstd"])
def test_every_layer_shows_exactly_what_the_steps_left(forms: dict[str, str],
                                                       form: str) -> None:
    tree = filetree.build(open_image(forms[form]))
    assert len(tree.layers) == len(TAGS)
    for upto, expected in enumerate(EXPECTED):
        assert _shape(tree, upto) == expected, f"as of layer {upto}"
    assert _deleted(tree) == DELETED_AT
    view = tree.view()
    # Link targets, followed inside the root.
    assert view.resolve("/srv/current/keep.txt") == "/srv/app/keep.txt"
    assert view.resolve("/srv/abs") == "/srv/app/keep.txt"
    assert view.lookup("/usr/lib/os-release") == view.entry("/etc/os-release")
    assert tree.view(3).lookup("/opt/bin/v2-hard") == tree.view(3).entry("/opt/bin/v2")
    assert not view.exists("/srv/current/gone.txt")
    assert tree.view(0).exists("/srv/current/gone.txt")


@pytest.mark.parametrize("form", ["umoci oci", "skopeo docker-archive", "skopeo oci-archive",
                                  "skopeo oci zstd"])
def test_contents_as_written(forms: dict[str, str], form: str) -> None:
    """Kept bytes (every path wanted) are each file's, through hard links too; and the
    deleted versions are still there to see, in their layer."""
    tree = filetree.build(open_image(forms[form]), ["/**"])
    view = tree.view()
    assert {p for p, (kind, _) in LAYER4.items() if kind in (FILE, HARD)} == set(FINAL_CONTENT)
    for path, data in FINAL_CONTENT.items():
        assert view.read(path) == data, path
    assert view.read("/usr/lib/os-release") == OS_RELEASE  # the name distro detection reads
    shipped = {e.path: (e.layer, e.content) for e in tree.all_entries() if not tree.is_visible(e)
               and e.kind is Kind.FILE}
    assert shipped["/srv/app/gone.txt"] == (0, CONTENT["/srv/app/gone.txt"])
    assert shipped[f"{FOO}/METADATA"] == (0, CONTENT[f"{FOO}/METADATA"])
    assert shipped["/opt/bin/tool"] == (0, CONTENT["/opt/bin/tool"])


def _unpacked(rootfs: Path) -> dict[str, tuple[str, str]]:
    """umoci's unpacked rootfs: path -> (dir | file | symlink, symlink target)."""
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            path = "/" + str(full.relative_to(rootfs))
            if full.is_symlink():
                out[path] = ("symlink", os.readlink(full))
            else:
                out[path] = ("dir" if full.is_dir() else "file", "")
    return out


KINDS = {Kind.DIR: "dir", Kind.FILE: "file", Kind.HARDLINK: "file", Kind.SYMLINK: "symlink"}


@pytest.mark.parametrize("upto", range(len(TAGS)))
def test_each_view_agrees_with_umoci_unpack(foreign: Foreign, upto: int) -> None:
    """hullcheck's view as of each layer, against umoci's unpacking of the image that ends
    there: the same paths, kinds, symlink targets and bytes; and two names are one file in
    hullcheck's tree exactly when they are one inode in umoci's rootfs."""
    ref = f"oci:{foreign.layout}:{LAST}"
    rootfs = foreign.unpacked[TAGS[upto]]
    kept = filetree.build(open_image(ref), ["/**"]).view(upto)  # every file's bytes kept
    mine = {e.path: (KINDS[e.kind], e.link if e.kind is Kind.SYMLINK else "")
            for e in kept.files()}
    assert mine == _unpacked(rootfs)
    for e in kept.files():
        if e.kind is not Kind.DIR and e.kind is not Kind.SYMLINK:
            assert kept.read(e.path) == (rootfs / e.path.lstrip("/")).read_bytes(), e.path
    view = filetree.build(open_image(ref)).view(upto)  # no bytes: hard links stay links
    pairs = [(e.path, e.link) for e in view.files() if e.kind is Kind.HARDLINK]
    assert len(pairs) == 3
    for path, link in pairs:
        one_inode = (rootfs / link.lstrip("/")).exists() and (
            (rootfs / path.lstrip("/")).stat().st_ino == (rootfs / link.lstrip("/")).stat().st_ino)
        found = view.lookup(path)
        assert found is not None and found.kind is Kind.FILE, path  # umoci has the file
        assert (found is view.entry(link)) == one_inode, (path, link)


@pytest.mark.parametrize("form", ["umoci oci", "skopeo docker-archive", "skopeo oci-archive",
                                  "skopeo oci zstd"])
def test_a_hard_link_keeps_the_file_it_was_made_to(forms: dict[str, str], form: str) -> None:
    """A hard link names a file, not a name: layer 3 deletes /opt/bin/tool and layer 4
    puts a new file at /opt/bin/v2, and their second names keep the files they were linked
    to (as umoci unpack, and a container, have them). A tree that kept no bytes (no glob
    wants them) once looked the targets up as of the last layer: tool-hard was gone,
    v2-hard was the new v2."""
    tree = filetree.build(open_image(forms[form]))
    view = tree.view()
    tool = view.lookup("/opt/bin/tool-hard")
    assert tool is not None and (tool.kind, tool.layer, tool.size) == (Kind.FILE, 0, 5)
    assert view.exists("/opt/bin/tool-hard") and not view.exists("/opt/bin/tool")
    v2, v2_hard = view.lookup("/opt/bin/v2"), view.lookup("/opt/bin/v2-hard")
    assert v2 is not None and (v2.layer, v2.size) == (4, len(V2_AGAIN))
    assert v2_hard is not None and (v2_hard.kind, v2_hard.layer, v2_hard.size) == (
        Kind.FILE, 1, len(b"v2\n"))
    # Before those layers, each pair is one file.
    assert tree.view(2).lookup("/opt/bin/tool-hard") is tree.view(2).entry("/opt/bin/tool")
    assert tree.view(3).lookup("/opt/bin/v2-hard") is tree.view(3).entry("/opt/bin/v2")


@pytest.mark.parametrize("form", ["umoci oci", "skopeo docker-archive", "skopeo oci-archive",
                                  "skopeo oci zstd"])
def test_the_sbom_of_a_foreign_image(forms: dict[str, str], form: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The distro from os-release (two names of one file); bar (layer 2) visible, foo (layer 0,
    gone with the opaque directory) shipped but not visible."""
    assert main(["sbom", forms[form], "-o", "json", "--scope", "all-layers"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["distro"]["id"], doc["distro"]["versionId"]) == ("debian", "12")
    found = {(p["name"], p["version"], p["type"], p["visibility"], p["locations"][0]["layer"],
              p["locations"][0]["path"]) for p in doc["packages"]}
    assert found == {("bar", "2.0", "pypi", "visible", 2, f"{BAR}/METADATA"),
                     ("foo", "1.0", "pypi", "shipped-not-visible", 0, f"{FOO}/METADATA")}
    # Squashed (what a container has): CycloneDX lists bar only; foo is counted in a note.
    assert main(["sbom", forms[form], "-o", "cyclonedx-json"]) == 0
    out, err = capsys.readouterr()
    components = json.loads(out)["components"]
    assert {(c["name"], c.get("version")) for c in components if c["type"] == "library"} == {
        ("bar", "2.0")}
    assert "1 package is shipped in lower layers but not visible" in err


def test_a_layer_umoci_cut_short_reads_as_docker_reads_it(
        foreign: Foreign, tmp_path: Path) -> None:
    """umoci 0.4.7's insert writes no tar footer, so a last member whose size is not a
    multiple of 512 ends without its padding. Go's archive/tar (umoci unpack, and so
    Docker and containerd) reads that as the end of the archive, so a container sees the
    file: hullcheck reads it the same way (member data that ends early stays an error)."""
    umoci = need_command("umoci", "umoci")
    short = tmp_path / "short.txt"
    short.write_bytes(b"45 bytes, not a multiple of 512, no padding\n")
    _run(umoci, "tag", "--image", f"{foreign.layout}:{LAST}", "cut")
    _run(umoci, "insert", "--image", f"{foreign.layout}:cut", str(short), "/srv/short.txt")
    cut = gzip.decompress(_layer_blobs(foreign.layout, "cut")[-1].read_bytes())
    assert len(cut) % 512 == len(short.read_bytes())  # the padding, and the footer, missing
    _run(umoci, "unpack", "--image", f"{foreign.layout}:cut", str(tmp_path / "bundle"))
    assert (tmp_path / "bundle/rootfs/srv/short.txt").read_bytes() == short.read_bytes()
    image = open_image(f"oci:{foreign.layout}:cut")
    view = filetree.build(image, ["/srv/**"]).view()
    entry = view.lookup("/srv/short.txt")
    assert entry is not None and entry.layer == image.layers[-1].index
    assert view.read("/srv/short.txt") == short.read_bytes()
    # Data cut inside the member (not only its padding) is still refused.
    truncated = cut[: len(cut) - len(short.read_bytes()) + 10]
    with pytest.raises(UnsafeLayer, match="member data ends early"):
        list(TarReader(iter([truncated]), what="layer"))

