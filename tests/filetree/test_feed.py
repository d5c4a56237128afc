"""How a layer's reader feeds content sinks: a ``FanOut``'s sinks are fed by ``read_tar``
itself (``filetree.sinks.feed``), each seeing what it sees alone, and a file no sniffing
sink asked for is read from the layer once, not as a head and then the rest."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest

from hullcheck.catalog.python import RecordDigests, _digest
from hullcheck.catalog.streaming import BinarySink, skipped_by_name
from hullcheck.filetree import FanOut, GlobSet
from hullcheck.filetree.sinks import ContentSink
from hullcheck.filetree.tar import read_tar
from hullcheck.secrets.scanner import Scanner
from hullcheck.tarstream import TarReader
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.tars import calls, tar_of


class Plain:
    """Takes every file it wants whole."""

    def __init__(self, prefix: str = "/") -> None:
        self.prefix = prefix
        self.got: list[tuple[int, str, bytes]] = []

    def wants(self, path: str, size: int) -> bool:
        return path.startswith(self.prefix)

    def take(self, layer: int, path: str, data: bytes) -> None:
        self.got.append((layer, path, data))


class Sniffer(Plain):
    head_size = 4

    def __init__(self, prefix: str = "/") -> None:
        super().__init__(prefix)
        self.heads: list[tuple[str, bytes]] = []

    def wants_head(self, path: str, head: bytes) -> bool:
        self.heads.append((path, head))
        return head.startswith(b"ELF")


class Streamer(Sniffer):
    def __init__(self, prefix: str = "/") -> None:
        super().__init__(prefix)
        self.streams: list[tuple[int, str, int, bytes, bytes]] = []

    def take_stream(self, layer: int, path: str, size: int, head: bytes,
                    read: Callable[[int], bytes]) -> None:
        self.streams.append((layer, path, size, head, read(2) + b"|" + read(100)))


class Matching(Plain):
    def __init__(self, prefix: str = "/") -> None:
        super().__init__(prefix)
        self.asked: list[tuple[str, bool]] = []

    def wants_matched(self, path: str, size: int, matched: bool) -> bool:
        self.asked.append((path, matched))
        return matched or path.startswith(self.prefix)


FILES = tar_of({"k/elf": b"ELF-kept", "k/text": b"plain", "elf": b"ELF-big", "text": b"plain text",
                "ELF": b"ELF", "e": b"", "s/elf": b"ELF-other", "s/text": b"more text"})
KINDS: dict[str, Callable[[str], ContentSink]] = {
    "plain": Plain, "sniffer": Sniffer, "streamer": Streamer, "matching": Matching}


def _seen(sink: ContentSink) -> dict[str, object]:
    return {k: v for k, v in vars(sink).items() if k != "prefix"}


def _read(sink: ContentSink | None, data: bytes = FILES) -> None:
    read_tar(iter([data[i:i + 700] for i in range(0, len(data), 700)]), index=3, what="layer 3",
             wanted=GlobSet(["/k/*"]), sink=sink)


def _through_fanout_protocol(fan: FanOut, data: bytes) -> None:
    """The files of ``data`` handed to ``fan`` through its own protocol (``wants_matched``,
    ``wants_head``, ``take``, ``take_stream``), as ``read_tar`` handed them before it fed
    a FanOut's sinks itself: the oracle."""
    globs = GlobSet(["/k/*"])
    reader = TarReader(iter([data]), what="layer 3")
    for m in reader:
        path = "/" + m.name
        content = reader.read(m.size) if globs.match(path) else None
        if not fan.wants_matched(path, m.size, globs.match(path)):
            continue
        if content is not None:
            if fan.wants_head(path, content[:fan.head_size]):
                fan.take(3, path, content)
            continue
        head = reader.read(fan.head_size)
        if fan.wants_head(path, head):
            if len(head) < m.size:
                fan.take_stream(3, path, m.size, head, reader.read)
            else:
                fan.take(3, path, head)


@pytest.mark.parametrize("first", list(KINDS))
@pytest.mark.parametrize("second", list(KINDS))
def test_fanned_out_sinks_are_fed_as_through_the_fanouts_own_protocol(first: str,
                                                                       second: str) -> None:
    """Sniffing, streaming, told the match or not, wanting overlapping files: each sink sees
    the same calls with the same bytes (a streaming sink streams a file only it wants)."""
    oracle = [KINDS[first]("/"), KINDS[second]("/s")]
    _through_fanout_protocol(FanOut(*oracle), FILES)
    fed = [KINDS[first]("/"), KINDS[second]("/s")]
    _read(FanOut(*fed))
    assert [_seen(s) for s in fed] == [_seen(s) for s in oracle]
    assert all(_seen(s)["got"] or _seen(s).get("streams") for s in fed)  # both were fed


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes asked of ``TarReader.read``, from here on."""
    return calls(monkeypatch, TarReader, "read", lambda reader, limit: limit)


def test_a_file_only_the_record_sink_wants_is_hashed_where_it_lies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sbom's sinks: a Python source file is the RECORD sink's alone (the binary sink
    passes over ``.py``): never copied out of the layer (``read``), hashed where it lies
    (``update``), its digest handed over with the layer's others at its end, no ``take``."""
    source = b"print('hello')\n" * 20
    data = tar_of({"usr/lib/python3/site-packages/a.py": source})
    records, binaries = RecordDigests(), BinarySink()
    asked = _reads(monkeypatch)
    fed = calls(monkeypatch, TarReader, "update", lambda reader, consume, limit: limit)
    taken = calls(monkeypatch, RecordDigests, "take", lambda sink, layer, path, data: path)
    handed = calls(monkeypatch, RecordDigests, "take_digests",
                   lambda sink, layer, found: (layer, [(p, n) for p, n, _ in found]))
    _read(FanOut(binaries, records), data)
    assert asked == [] and taken == []
    assert fed == [len(source)]
    assert handed == [(3, [("/usr/lib/python3/site-packages/a.py", len(source))])]
    assert records.digests == {(3, "/usr/lib/python3/site-packages/a.py"): _digest("sha256", source)}
    assert records.sizes == {(3, "/usr/lib/python3/site-packages/a.py"): len(source)}


def test_an_executable_both_sinks_want_is_sniffed_then_read_whole_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    program = make_elf([(".text", b"\x90" * 64), (".rodata", b"\x00BusyBox v1.36.1 (2023)\x00")])
    data = tar_of({"usr/lib/python3/site-packages/x/_speedups": program})
    records, binaries = RecordDigests(), BinarySink()
    asked = _reads(monkeypatch)
    peeked = calls(monkeypatch, TarReader, "peek", lambda reader, limit: limit)
    _read(FanOut(binaries, records), data)
    assert peeked == [64]  # the head looked at where it lies
    assert asked == [len(program)]  # then the file read whole once: no head joined to the rest
    assert binaries.counts.sniffed == 1 and binaries.counts.parsed == 1
    assert records.digests == {(3, "/usr/lib/python3/site-packages/x/_speedups"):
                               _digest("sha256", program)}


def test_record_digests_answer_a_reader_told_the_glob_match_as_they_answer_wants() -> None:
    sink = RecordDigests()
    for path in ("/usr/lib/python3/site-packages/a.py", "/usr/lib/python3/site-packages/a.pyc",
                 "/usr/lib/python3/dist-packages/b/c.so", "/usr/lib/python3/a.py", "/x"):
        for size in (0, 10, RecordDigests.max_size, RecordDigests.max_size + 1):
            for matched in (True, False):
                assert sink.wants_matched(path, size, matched) == sink.wants(path, size)


@pytest.mark.parametrize("path", ["/usr/bin/x", "/a/b.PY", "/a/b.txt", "/a/.txt", "/a/b.tar.gz",
                                  "/a/b.", "/lib/libc.so.6", "/a.b/c", "/a/b.Jar"])
def test_the_binary_sink_passes_over_what_skipped_by_name_names(path: str) -> None:
    sink = BinarySink()
    assert sink.wants_matched(path, 1000, False) == (not skipped_by_name(path))


SITE = "usr/lib/python3/site-packages/"
PACKAGE = {
    f"{SITE}p/__init__.py": b"",
    f"{SITE}p/big.py": b"# spans chunks\n" * 700,
    f"{SITE}p-1.0.dist-info/METADATA": b"Name: p\nVersion: 1.0\n",
    f"{SITE}p-1.0.dist-info/RECORD": b"p/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n",
    f"{SITE}p/data.bin": bytes(range(256)) * 40,
    f"{SITE}p/x.pyc": b"compiled",
    "usr/bin/tool": b"not python",
}


@pytest.mark.parametrize("chunk", [1, 100, 700, 1 << 20])
@pytest.mark.parametrize("with_binaries", [False, True])
def test_record_digests_hashed_in_place_are_those_take_computes(chunk: int,
                                                               with_binaries: bool) -> None:
    """Hashed where they lie (alone, or beside the binary sink, which wants some of the same
    files), the RECORD sink ends with the digests, sizes and RECORD bytes it has when every
    file is handed to ``take`` (the oracle: its ``take`` called for each file it wants)."""
    oracle = RecordDigests()
    reader = TarReader(iter([tar_of(PACKAGE)]), what="t")
    for m in reader:
        if oracle.wants("/" + m.name, m.size):
            oracle.take(3, "/" + m.name, reader.read(m.size))
    records = RecordDigests()
    data = tar_of(PACKAGE)
    read_tar(iter([data[i:i + chunk] for i in range(0, len(data), chunk)]), index=3,
             what="layer 3", wanted=GlobSet(["/**/*.dist-info/METADATA", "/**/*.dist-info/RECORD"]),
             sink=FanOut(BinarySink(), records) if with_binaries else records)
    assert len(oracle.digests) == 5  # the .pyc and the file outside site-packages left out
    assert (records.digests, records.sizes, records.records) == \
        (oracle.digests, oracle.sizes, oracle.records)


@pytest.mark.parametrize("hashed_first", [True, False])
def test_a_path_met_twice_ends_as_its_last_copy_whichever_way_each_was_fed(
        hashed_first: bool) -> None:
    """One copy hashed in place (over the size kept), the other kept and so handed to
    ``take``: the digests handed over later never overwrite a later copy's."""
    big, small = b"b" * 300, b"small"
    path = f"{SITE}p/mod.py"
    first, second = (big, small) if hashed_first else (small, big)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:  # one archive, the path twice
        for content in (first, second):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    data = buf.getvalue()
    records = RecordDigests()
    read_tar(iter([data]), index=0, what="layer 0", wanted=GlobSet(["/**/*.py"]), max_file=100,
             sink=records)
    assert records.digests == {(0, "/" + path): _digest("sha256", second)}
    assert records.sizes == {(0, "/" + path): len(second)}


def test_a_file_whose_head_the_binary_sink_refuses_is_hashed_where_it_lies_for_records(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Wanted by both sbom sinks (not a ``.py``, no extension), not an executable: once the binary sink
    says no to its head, the RECORD sink alone wants it, and it is hashed in place, never
    copied out of the layer."""
    text = b"not an executable, a data file\n" * 50
    data = tar_of({f"{SITE}p/blob": text})
    records, binaries = RecordDigests(), BinarySink()
    asked = _reads(monkeypatch)
    taken = calls(monkeypatch, RecordDigests, "take", lambda sink, layer, path, data: path)
    _read(FanOut(binaries, records), data)
    assert asked == [] and taken == []
    assert binaries.counts.sniffed == 1 and binaries.counts.parsed == 0
    assert records.digests == {(3, f"/{SITE}p/blob"): _digest("sha256", text)}


@pytest.mark.parametrize("chunk", [1, 30, 64, 65, 700, 1 << 20])
def test_sniffed_files_reach_sinks_whole_however_the_chunks_fall(chunk: int) -> None:
    """A head that lies in the chunk at hand is peeked, one across chunks is read: either
    way each sink gets the same bytes (the scanner's whole files, the streamer's rest)."""
    oracle = [Sniffer("/"), Streamer("/s"), Plain("/k")]
    _through_fanout_protocol(FanOut(*oracle), FILES)
    fed = [Sniffer("/"), Streamer("/s"), Plain("/k")]
    read_tar(iter([FILES[i:i + chunk] for i in range(0, len(FILES), chunk)]), index=3,
             what="layer 3", wanted=GlobSet(["/k/*"]), sink=FanOut(*fed))
    assert [_seen(s) for s in fed] == [_seen(s) for s in oracle]


@pytest.mark.parametrize("chunk", [1, 5, 30, 64, 700, 1 << 20])
def test_a_lone_sniffing_sink_is_fed_as_through_the_protocol_however_the_chunks_fall(
        chunk: int) -> None:
    """``read_tar``'s fast path for one sniffing sink (the secret scanner): files that lie
    whole in the chunk at hand, and those across chunks, kept or not, sniffed and taken as
    ``feed`` gives them (the oracle: the same sink behind a FanOut)."""
    oracle = Sniffer("/")
    _through_fanout_protocol(FanOut(oracle), FILES)
    fed = Sniffer("/")
    read_tar(iter([FILES[i:i + chunk] for i in range(0, len(FILES), chunk)]), index=3,
             what="layer 3", wanted=GlobSet(["/k/*"]), sink=fed)
    assert _seen(fed) == _seen(oracle)
    assert [p for _, p, _ in fed.got] == ["/k/elf", "/elf", "/ELF", "/s/elf"]


def test_a_file_in_the_chunk_at_hand_reaches_the_scanner_sliced_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret scanner alone: a text file lying in the chunk is one slice of it (one
    ``peek`` of its size), sniffed and taken as it is: no head copied out, then the file
    read (``read``) again."""
    text = b"password = 'hunter2-not-a-secret'\n" * 400  # more than the 8 KiB sniffed
    data = tar_of({"etc/app.conf": text, "etc/small": b"x = 1\n"})
    scanner = Scanner()
    asked = _reads(monkeypatch)
    peeked = calls(monkeypatch, TarReader, "peek", lambda reader, limit: limit)
    taken = calls(monkeypatch, Scanner, "take", lambda sink, layer, path, data: (path, data))
    read_tar(iter([data]), index=3, what="layer 3", wanted=None, sink=scanner)
    assert asked == []
    assert peeked == [len(text), 6]
    assert taken == [("/etc/app.conf", text), ("/etc/small", b"x = 1\n")]


class Keeper(Sniffer):
    """Keeps what it is given, and the type it was given as."""

    def take(self, layer: int, path: str, data: bytes) -> None:
        assert type(data) is bytes  # never a view of a chunk the reader moves past
        super().take(layer, path, data)

    def wants_head(self, path: str, head: bytes) -> bool:
        assert type(head) is bytes
        return True


@pytest.mark.parametrize("chunk", [7, 700, 1 << 20])
def test_what_a_lone_sink_keeps_does_not_change_as_the_reader_moves_on(chunk: int) -> None:
    """The bytes a sink is given are its own (``bytes``, never a view into a chunk the
    reader moves past): kept to the layer's end, each is still the file's, byte for byte."""
    files = {f"d/f{i}": bytes([65 + i]) * (300 * i + 1) for i in range(12)}
    data = tar_of(files)
    keeper = Keeper()
    read_tar(iter([data[i:i + chunk] for i in range(0, len(data), chunk)]), index=3,
             what="layer 3", wanted=None, sink=keeper)
    assert {p: d for _, p, d in keeper.got} == {f"/{k}": v for k, v in files.items()}


def test_the_scanner_answers_a_reader_told_the_match_in_one_call() -> None:
    """``wants_matched``, asked of every file of every layer, is ``wants`` itself (no
    wrapper call per file), answering and counting alike."""
    assert Scanner.wants_matched is Scanner.wants
    scanner = Scanner()
    asked = [("/a/lib.so", 10), ("/a/x.py", 10), ("/a/empty", 0), ("/a/x.png", 5)]
    assert [scanner.wants_matched(p, n, True) for p, n in asked] == [False, True, False, False]
    assert scanner._binary == 2  # the count report() gives


class MatchingSniffer(Matching, Sniffer):
    """A lone sniffing sink that wants what the tree's globs matched (and its prefix)."""

    def __init__(self, prefix: str = "/none") -> None:
        super().__init__(prefix)


@pytest.mark.parametrize("chunk", [5, 700, 1 << 20])
def test_a_lone_sniffing_sink_is_told_whether_the_globs_matched(chunk: int) -> None:
    """The fast path asks a lone sniffing sink with the match, as ``feed`` does: a sink
    that wants the globbed files gets them (and is told False for the rest)."""
    fed = MatchingSniffer()
    read_tar(iter([FILES[i:i + chunk] for i in range(0, len(FILES), chunk)]), index=3,
             what="layer 3", wanted=GlobSet(["/k/*"]), sink=fed)
    assert [p for _, p, _ in fed.got] == ["/k/elf"]  # the globbed ELF; /k/text sniffed out
    assert [p for p, m in fed.asked if m] == ["/k/elf", "/k/text"]
    oracle = MatchingSniffer()
    _through_fanout_protocol(FanOut(oracle), FILES)
    assert _seen(fed) == _seen(oracle)


class ZeroHead(Sniffer):
    head_size = 0  # sniffs an empty head: asked about every file, decides by path alone

    def wants_head(self, path: str, head: bytes) -> bool:
        self.heads.append((path, head))
        return "elf" in path


def test_a_lone_sniffer_of_no_bytes_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sink whose head is 0 bytes is still a sniffing sink: alone, a file lying in the
    chunk at hand is one ``peek`` of it, never a ``read`` of a head and then the rest."""
    fed = ZeroHead()
    asked = _reads(monkeypatch)
    peeked = calls(monkeypatch, TarReader, "peek", lambda reader, limit: limit)
    read_tar(iter([FILES]), index=3, what="layer 3", wanted=None, sink=fed)
    assert asked == []
    assert len(peeked) == 8 and {h for _, h in fed.heads} == {b""}
    assert [p for _, p, _ in fed.got] == ["/k/elf", "/elf", "/s/elf"]
