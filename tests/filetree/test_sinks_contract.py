"""The content sinks' contract (``filetree.sinks``): what reaches which sink, in what order,
how often and how many bytes, alone, fanned out, behind the pipeline's nested ``FanOut``, a
``dir:`` source or a reader that knows only ``wants`` and ``take``; and a layer cut short
mid-file named in one error, with no sink handed half a file."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck import catalog, filetree
from hullcheck.catalog.python import RecordDigests, _digest
from hullcheck.catalog.streaming import BinarySink
from hullcheck.errors import UnsafeLayer
from hullcheck.filetree import FanOut, GlobSet
from hullcheck.filetree.analysis import watching
from hullcheck.filetree.rootfs import read_rootfs
from hullcheck.filetree.sinks import ContentSink, hashing, sniffs, streams
from hullcheck.filetree.tar import read_tar
from hullcheck.image import open_image
from hullcheck.image.writer import file, hardlink
from hullcheck.secrets.scanner import Scanner
from hullcheck.tarstream import TarReader
from tests.filetree.test_feed import Plain, Sniffer, Streamer
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.tars import calls, tar_of
from tests.test_layers_survivors import _Linking, _with_links

FILES = {"a/small": b"ELF small", "a/big": b"ELF " + b"b" * 80, "a/text": b"just text here",
         "s/one": b"ELF-s", "s/long": b"plain " * 20}


def _read(sink: ContentSink | None, data: bytes, *, chunk: int = 1 << 20,
          wanted: GlobSet | None = None) -> None:
    read_tar(iter([data[i:i + chunk] for i in range(0, len(data), chunk)]), index=3,
             what="layer 3", wanted=wanted, sink=sink)


def _seen(sink: object) -> dict[str, object]:
    return {k: v for k, v in vars(sink).items() if k not in ("prefix", "limit")}


# -- optional methods: present only when callable ------------------------------------------


class HashesOnly(Plain):
    """Says which files it would hash, but takes no digests: a plain sink."""

    def hashes(self, path: str) -> bool:
        return True


class DigestsOnly(Plain):
    """Takes digests but never says it hashes: a plain sink."""

    def take_digests(self, layer: int, found: list[tuple[str, int, bytes]]) -> None:
        raise AssertionError("digests handed to a sink that does not hash")


class StreamerOff(Streamer):
    """A streaming sink's subclass with streaming switched off."""

    take_stream = None  # type: ignore[assignment]


class LinksOff(Plain):
    """A sink whose ``take_link`` is switched off by a value, not a method."""

    take_link = False


def _files_and_link() -> bytes:
    """``FILES``, then a hard link to one of them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("a/link")
        link.type, link.linkname = tarfile.LNKTYPE, "a/big"
        tf.addfile(link)
    return buf.getvalue()


FILES_AND_LINK = _files_and_link()


@pytest.mark.parametrize(("kind", "like"), [(HashesOnly, Plain), (DigestsOnly, Plain),
                                            (StreamerOff, Sniffer), (LinksOff, Plain)])
def test_an_optional_method_counts_only_when_it_is_callable(kind: type[Plain],
                                                            like: type[Plain]) -> None:
    """``hashes`` without ``take_digests`` (or the reverse), ``take_stream`` or
    ``take_link`` set to a value: the reader feeds the sink as the sink without them (whole
    files through ``take``), never calling what is not there."""
    fed, oracle = kind("/"), like("/")
    _read(fed, FILES_AND_LINK)
    _read(oracle, FILES_AND_LINK)
    assert fed.got and fed.got == oracle.got
    assert getattr(fed, "heads", None) == getattr(oracle, "heads", None)
    assert not hashing(HashesOnly()) and not hashing(DigestsOnly())
    assert not streams(StreamerOff()) and sniffs(StreamerOff())


# -- sniffing: a head of no bytes, and sinks that sniff none -------------------------------


class BlindSniffer(Plain):
    """Sniffs a head of 0 bytes: decides by its path, once ``wants`` said yes."""

    head_size = 0

    def __init__(self, prefix: str = "/") -> None:
        super().__init__(prefix)
        self.heads: list[tuple[str, bytes]] = []

    def wants_head(self, path: str, head: bytes) -> bool:
        self.heads.append((path, head))
        return path.startswith("/s/")


@pytest.mark.parametrize("fanned", [False, True])
def test_a_sink_sniffing_a_head_of_no_bytes_is_still_asked_about_each_file(fanned: bool) -> None:
    """``head_size`` 0 is a sniffing sink (only -1, no ``wants_head``, is not): asked about
    each file it wants, with an empty head, and given only those it says yes to."""
    blind = BlindSniffer()
    _read(FanOut(Plain("/a/"), blind) if fanned else blind, tar_of(FILES))
    assert blind.heads == [("/" + p, b"") for p in FILES]
    assert [(p, d) for _, p, d in blind.got] == [("/s/one", b"ELF-s"), ("/s/long", b"plain " * 20)]


def _reads(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """The sizes asked of ``TarReader.read`` and ``TarReader.peek``, from here on."""
    return (calls(monkeypatch, TarReader, "read", lambda reader, limit: limit),
            calls(monkeypatch, TarReader, "peek", lambda reader, limit: limit))


@pytest.mark.parametrize("nested", [False, True])
def test_sinks_that_sniff_no_head_get_each_file_read_once_whole(
        monkeypatch: pytest.MonkeyPatch, nested: bool) -> None:
    """Fanned-out sinks that take whole files (the RECORD reader behind ``take``, licence
    texts ahead), flat or nested as the pipeline nests the image's sink and the watcher:
    each file is read out of the layer once, whole; no head is looked at or joined to it."""
    a, b = Plain("/"), Plain("/s/")
    sink = FanOut(Plain("/nothing/"), FanOut(a, b)) if nested else FanOut(a, b)
    data = tar_of(FILES)
    asked, peeked = _reads(monkeypatch)
    _read(sink, data)
    assert [n for n in asked if n] == [len(d) for d in FILES.values()]
    assert [n for n in peeked if n] == []
    assert [(p, d) for _, p, d in a.got] == [("/" + p, d) for p, d in FILES.items()]
    assert [p for _, p, _ in b.got] == ["/s/one", "/s/long"]


def test_a_file_the_tree_keeps_reaches_the_sinks_as_kept_without_a_second_look(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file under the tree's globs is read once, for the tree; the sniffing and streaming
    sinks get those bytes, and the layer is neither peeked at nor read again for them."""
    sniffer, streamer = Sniffer("/"), Streamer("/a/")
    data = tar_of(FILES)
    asked, peeked = _reads(monkeypatch)
    _read(FanOut(sniffer, streamer), data, wanted=GlobSet(["/**"]))
    assert asked == [len(d) for d in FILES.values()] and peeked == []
    elves = [("/" + p, d) for p, d in FILES.items() if d.startswith(b"ELF")]
    assert [(p, d) for _, p, d in sniffer.got] == elves
    assert [(p, d) for _, p, d in streamer.got] == [e for e in elves if e[0].startswith("/a/")]
    assert streamer.streams == []  # kept bytes are whole already: nothing to stream


# -- FanOut for a reader that knows only wants and take ------------------------------------


class Sized(Plain):
    """Wants the files under its prefix of at most ``limit`` bytes; keeps what it was asked."""

    def __init__(self, prefix: str = "/", limit: int = 50) -> None:
        super().__init__(prefix)
        self.limit = limit
        self.asked: list[tuple[str, int]] = []

    def wants(self, path: str, size: int) -> bool:
        self.asked.append((path, size))
        return path.startswith(self.prefix) and size <= self.limit


class SizedSniffer(Sized):
    head_size = 4

    def wants_head(self, path: str, head: bytes) -> bool:
        return head.startswith(b"ELF")


def _offer(sink: ContentSink, files: dict[str, bytes]) -> None:
    """``files`` handed to ``sink`` by a reader of the base protocols: ``wants``, then the
    head when the sink sniffs, then the file whole."""
    for name, data in files.items():
        path = "/" + name
        if not sink.wants(path, len(data)):
            continue
        if sniffs(sink) and not sink.wants_head(path, data[:sink.head_size]):
            continue
        sink.take(3, path, data)


def test_a_fanout_asked_only_wants_gives_each_sink_what_it_would_take_alone() -> None:
    """Each sink is asked about each file once, with its path and size, and takes what it
    takes when offered the files alone."""
    def sinks() -> list[Sized]:
        return [Sized("/", 20), SizedSniffer("/", 1000), Sized("/s/", 1000)]
    alone, fanned = sinks(), sinks()
    for sink in alone:
        _offer(sink, FILES)
    _offer(FanOut(*fanned), FILES)
    assert [_seen(s) for s in fanned] == [_seen(s) for s in alone]
    assert [len(s.got) for s in fanned] == [3, 3, 2]


def test_a_fanout_handed_a_file_it_was_not_asked_about_asks_its_sinks_then() -> None:
    """No ``wants`` first (a fresh FanOut, or another path than the last asked): it asks its
    sinks itself, with the size it knows (the bytes in hand, or the stream's size)."""
    small, sniffer = Sized("/", 50), SizedSniffer("/", 1000)
    fan = FanOut(small, sniffer)
    fan.take(3, "/a", b"x" * 40)
    assert fan.wants_head("/b", b"ELF.")
    fan.take(3, "/b", b"ELF." + b"y" * 100)
    rest = iter([b"z" * 56])
    fan.take_stream(3, "/c", 60, b"ELF.", lambda n: next(rest)[:n])
    assert small.asked == sniffer.asked == [("/a", 40), ("/b", 4), ("/c", 60)]
    assert [(p, len(d)) for _, p, d in small.got] == [("/a", 40), ("/b", 104)]
    assert [(p, len(d)) for _, p, d in sniffer.got] == [("/a", 40), ("/b", 104), ("/c", 60)]


@pytest.mark.parametrize("first", ["take", "take_stream"])
def test_a_file_handed_over_twice_reaches_each_sink_once(first: str) -> None:
    """The sinks chosen for a file are spent once it is handed over: a second hand-over of
    the same file without asking again reaches no sink twice."""
    a, b = Plain("/"), Sniffer("/")
    fan = FanOut(a, b)
    assert fan.wants("/f", 8) and fan.wants_head("/f", b"ELF.")
    if first == "take":
        fan.take(3, "/f", b"ELF.data")
    else:
        fan.take_stream(3, "/f", 8, b"ELF.", lambda n: b"data"[:n])
    fan.take(3, "/f", b"ELF.data")
    assert a.got == b.got == [(3, "/f", b"ELF.data")]


class Large(Plain):
    """Wants files of 10 bytes or more."""

    def wants(self, path: str, size: int) -> bool:
        return size >= 10


def test_two_threads_reading_the_same_path_keep_their_own_sinks() -> None:
    """Layers read in threads share the image's sink: what one thread chose for a path is
    not what another chose for the same path in its layer."""
    large, small = Large("/"), Sized("/", 5)
    fan = FanOut(large, small)
    chose, go = threading.Event(), threading.Event()

    def layer_0() -> None:
        assert fan.wants("/etc/f", 20)  # the large sink's
        chose.set()
        go.wait(10)
        fan.take(0, "/etc/f", b"0" * 20)

    reader = threading.Thread(target=layer_0)
    reader.start()
    chose.wait(10)
    assert fan.wants("/etc/f", 1)  # small's, in this thread's layer
    fan.take(1, "/etc/f", b"1")
    go.set()
    reader.join(10)
    assert large.got == [(0, "/etc/f", b"0" * 20)]
    assert small.got == [(1, "/etc/f", b"1")]


# -- the pipeline's nested FanOut ------------------------------------------------------------


def test_a_nested_fanout_tells_its_sinks_each_hard_link_whole() -> None:
    """The image's sink beside the watcher, nested in a layer's sinks: a linking sink there
    is told each hard link (layer, path, target, matched, kept) as it is alone."""
    alone, nested = _Linking(), _Linking()
    read_tar(iter([_with_links()]), index=7, what="layer 7", wanted=GlobSet(["/k/*"]),
             sink=alone)
    read_tar(iter([_with_links()]), index=7, what="layer 7", wanted=GlobSet(["/k/*"]),
             sink=FanOut(Plain("/"), FanOut(nested, Plain("/"))))
    assert nested.links == alone.links == [
        (7, "/k/link", "/k/a", True, True), (7, "/x/link", "/k/a", False, True),
        (7, "/k/link2", "/other/b", True, False)]


BUSYBOX = make_elf([(".rodata", b"\0BusyBox v1.36.1 (2024-01-01) multi-call binary\0")])
BB, BUSYBOX_LINK = "/usr/bin/bb", "/usr/local/bin/busybox"
SITE = "usr/lib/python3/site-packages/"


def test_the_binary_sink_behind_the_pipelines_nested_fanout_finds_what_it_finds_alone(
        make_image: Callable[..., str]) -> None:
    """``filetree.build`` with per-layer sinks, the image's sink and a watcher nests the
    last two in a FanOut, shared by the threads reading two layers: the binary sink there
    finds BusyBox at the hard link named busybox (the link told through the FanOut) and
    everything else it finds without the nesting."""
    ref = make_image({BB: file(BB[1:], BUSYBOX, 0o755),
                      BUSYBOX_LINK: hardlink(BUSYBOX_LINK[1:], BB[1:])},
                     {f"{SITE}p/m.py": file(f"{SITE}p/m.py", b"x = 1\n"),
                      "/bin/busybox": file("bin/busybox", BUSYBOX, 0o755)})
    globs = catalog.globs_for(streamed=True)
    alone, nested, watcher = BinarySink(), BinarySink(), Plain("/usr/lib/")
    filetree.build(open_image(ref), globs, sinks=[catalog.RecordSpec()], sink=alone)
    with watching(watcher):
        tree = filetree.build(open_image(ref), globs, sinks=[catalog.RecordSpec()], sink=nested)
    found = nested.results()
    assert found == alone.results()
    assert sorted((f.layer, f.path) for f in found.files if f.packages) == [
        (0, BUSYBOX_LINK), (1, "/bin/busybox")]
    assert [(la, p) for la, p, _ in watcher.got] == [(1, f"/{SITE}p/m.py")]
    assert catalog.RecordSpec.merge(tree.results("record-digests")) == {
        (1, f"/{SITE}p/m.py"): _digest("sha256", b"x = 1\n")}


# -- dir: sources --------------------------------------------------------------------------


def _rootfs(root: Path) -> Path:
    for name, data in {"bin/busybox": BUSYBOX, f"{SITE}p/m.py": b"y = 2\n" * 50,
                       f"{SITE}p-1.0.dist-info/RECORD": b"p/m.py,,\n",
                       "etc/app.conf": b"aws_secret = 'AKIAxxxxx not a key'\n",
                       "srv/data.bin": bytes(range(256)) * 8}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _found(binary: BinarySink, records: RecordDigests, scanner: Scanner) -> tuple[object, ...]:
    return (binary.results(), records.digests, records.sizes, records.records,
            sorted((h.layer, h.path) for h in scanner._hits), scanner._files, scanner._bytes)


def test_a_dir_source_feeds_a_fanout_as_it_feeds_each_sink_alone(tmp_path: Path) -> None:
    """An unpacked root file system read with the sbom's and the secret scanner's sinks in
    one FanOut: each finds what it finds reading the directory alone."""
    root, globs = _rootfs(tmp_path), GlobSet(catalog.globs_for(streamed=True))
    sinks = BinarySink(), RecordDigests(), Scanner()
    for sink in sinks:
        read_rootfs(root, globs, filetree.DEFAULT_MAX_FILE, sink)
    fanned = BinarySink(), RecordDigests(), Scanner()
    read_rootfs(root, globs, filetree.DEFAULT_MAX_FILE, FanOut(*fanned))
    assert _found(*fanned) == _found(*sinks)
    assert len(fanned[1].digests) == 2 and fanned[2]._files >= 2
    assert [f.path for f in fanned[0].results().files if f.packages] == ["/bin/busybox"]


class Growing(Sniffer):
    """A sniffing sink that, looking at a head, appends to the file it came from: a log a
    running process writes while a ``dir:`` source is read."""

    def __init__(self, root: Path) -> None:
        super().__init__("/")
        self.root = root

    def wants_head(self, path: str, head: bytes) -> bool:
        with (self.root / path.lstrip("/")).open("ab") as f:
            f.write(b" and more written while it was read")
        return True


def test_a_file_growing_while_a_dir_source_is_read_reaches_each_sink_as_listed(
        tmp_path: Path) -> None:
    """Read for two sinks at once, a file is the size the walk listed: the bytes appended
    after its head was read reach neither sink."""
    log = b"ELF line one\n" * 20
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "app.log").write_bytes(log)
    growing, plain = Growing(tmp_path), Plain("/")
    read_rootfs(tmp_path, None, filetree.DEFAULT_MAX_FILE, FanOut(growing, plain))
    assert growing.got == plain.got == [(0, "/var/app.log", log)]


# -- a layer cut short ------------------------------------------------------------------------


def _cut(files: dict[str, bytes], at: int) -> bytes:
    """The tar of ``files``, cut ``at`` bytes into the data of its last member."""
    whole = tar_of(files)
    return whole[:whole.index(list(files.values())[-1]) + at]


@pytest.mark.parametrize("kind", ["hashed", "streamed", "fanned", "nested"])
def test_a_layer_cut_mid_file_is_one_error_naming_it_and_no_sink_gets_half_a_file(
        kind: str) -> None:
    """Hashed in place, streamed to one sink, read whole for several: a layer that ends
    inside a file is an ``UnsafeLayer`` naming the layer, and no sink is handed the part
    of the file that was there (nor, for the RECORD sink, its digest)."""
    big = b"ELF " + b"q" * 4000
    data = _cut({f"{SITE}p/a.py": b"first\n", f"{SITE}p/big": big}, 1500)
    records, streamer, plain = RecordDigests(), Streamer("/"), Plain("/")
    sinks: dict[str, ContentSink] = {
        "hashed": records, "streamed": streamer, "fanned": FanOut(records, plain),
        "nested": FanOut(Sniffer("/nothing/"), FanOut(records, plain))}
    with pytest.raises(UnsafeLayer, match=r"^layer 3: truncated tar \(member data ends early\)$"):
        _read(sinks[kind], data, chunk=700)
    assert all(p != f"/{SITE}p/big" for _, p in records.digests)
    assert all(p != f"/{SITE}p/big" for _, p, _ in plain.got)
    assert all(len(d) < len(big) for *_, d in streamer.streams)
