"""The scanner's fast paths find what the plain path finds: the rules' gates (a rule whose
keyword occurs runs only where its gate does too, with hyperscan) and the binary sniff on a
file's first 8 KiB (the rest of a binary file is never gathered)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck.filetree.tar import read_tar
from hullcheck.secrets import RULES, Scanner, SecretConfig, parse_config
from hullcheck.secrets.engine import Prefilter
from hullcheck.secrets.scanner import SNIFF, Hit
from tests.fixtures.tars import tar_of
from tests.secrets import fakes
from tests.secrets.test_command_line import PASSWORD
from tests.secrets.test_rules import CASES

GATED = sorted(r.id for r in RULES if r.gate)
BY_ID = {r.id: r for r in RULES}


def _found(hits: list[Hit]) -> list[tuple[str, int, str, int, int]]:
    return [(h.rule.id, h.line, h.match, h.start, h.end) for h in hits]


def test_every_gate_compiles_with_hyperscan() -> None:
    """No gate silently dropped: were one not to compile, no rule would be gated."""
    assert GATED == ["aws-access-key-id", "aws-secret-access-key", "command-line-password",
                     "generic-password", "url-password"]
    scanner = Scanner(engine="hyperscan")
    assert scanner._prefilter.gating
    assert sorted(r.id for (r, _, _), g in zip(scanner._rules, scanner._gate, strict=True)
                  if g is not None) == GATED


@pytest.mark.parametrize("rule_id", GATED)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_gate_occurs_wherever_its_rule_matches(rule_id: str, data: st.DataObject) -> None:
    """Anything the rule's expression finds, the gate's hyperscan prefilter finds too."""
    rule = BY_ID[rule_id]
    text = data.draw(st.from_regex(re.compile(rule.regex.encode())))
    prefilter = Prefilter(rule.keywords, "hyperscan", [rule.gate])
    assert len(rule.keywords) in prefilter.hits(text, gated=True)


# Lines around a secret: its keywords without the rest, near misses, other rules' secrets.
_NOISE = st.sampled_from([
    b"", b"curl https://example.org/x -o x\n", b"wget -q https://example.org/\n",
    b"see https://example.org/a:b/c\n", b"password: see the vault\n", b"asia and anva\n",
    b"aws_region = eu-west-1\n", b"\\\n", b"curl -fsSL \\\n  -o x", b"secret=\n",
    b"\0", b"x" * 200,
])


@pytest.mark.parametrize("rule_id", GATED)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gated_scan_finds_what_the_plain_scan_finds(rule_id: str, data: st.DataObject) -> None:
    text = b"".join([data.draw(_NOISE), data.draw(st.from_regex(
        re.compile(BY_ID[rule_id].regex.encode()))), data.draw(_NOISE)])
    plain = Scanner(engine="python").scan_bytes(text, "/app/x")
    gated = Scanner(engine="hyperscan").scan_bytes(text, "/app/x", gated=True)
    assert _found(gated) == _found(plain)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_every_rule_case_is_found_alike_gated(rule_id: str) -> None:
    path, text, _, near_path, near = CASES[rule_id]
    for p, t in ((path, text), (near_path, near)):
        plain = Scanner(engine="python").scan_bytes(t.encode(), p)
        assert _found(Scanner(engine="hyperscan").scan_bytes(t.encode(), p, gated=True)) == \
            _found(plain)
    assert rule_id in {h.rule.id for h in Scanner().scan_bytes(text.encode(), path, gated=True)}


def _counting(scanner: Scanner) -> dict[str, int]:
    """Count, per rule id, how often ``scanner`` runs the rule's expression."""
    runs: dict[str, int] = {}

    class Counted:
        def __init__(self, rule_id: str, rx: re.Pattern[bytes]) -> None:
            self.rule_id, self.rx, self.groupindex = rule_id, rx, rx.groupindex

        def finditer(self, data: bytes, start: int, end: int) -> Iterator[re.Match[bytes]]:
            runs[self.rule_id] = runs.get(self.rule_id, 0) + 1
            return self.rx.finditer(data, start, end)

    scanner._rules = [(r, Counted(r.id, rx), p)  # type: ignore[misc]
                      for r, rx, p in scanner._rules]
    return runs


def test_a_keyword_without_its_gate_runs_no_expression() -> None:
    """A shell script that fetches with curl and wget and names a password, with none on a
    command line, in a URL or assigned: the keywords occur, no gate does."""
    text = (b"#!/bin/sh\n# the password is asked for\ncurl -fsSL https://example.org/x -o x\n"
            b"wget -q https://example.org/y\nread -r PASSWORD\n")
    gated = Scanner(engine="hyperscan")
    runs = _counting(gated)
    assert gated.scan_bytes(text, "/app/get.sh", gated=True) == []
    assert runs == {}
    plain = Scanner(engine="hyperscan")
    runs = _counting(plain)
    assert plain.scan_bytes(text, "/app/get.sh") == []
    assert set(runs) == {"command-line-password", "url-password", "generic-password"}


def test_a_gate_that_occurs_runs_the_rule() -> None:
    text = f"curl -fsSL -u deploy:{PASSWORD} https://repo.example.org/x\n".encode()
    scanner = Scanner(engine="hyperscan")
    runs = _counting(scanner)
    hits = scanner.scan_bytes(text, "/app/get.sh", gated=True)
    assert [h.rule.id for h in hits] == ["command-line-password"]
    assert runs["command-line-password"] == 1


def test_user_rules_are_never_gated() -> None:
    """A user's expression is Python's: hyperscan may read it otherwise (``{,3}`` is a
    literal to it), so only the keywords decide."""
    cfg = parse_config({"rules": [{"id": "acme", "regex": r"acme_(?P<secret>[0-9a-f]{,40})\b",
                                   "keywords": ["acme_"]}]})
    scanner = Scanner(cfg, engine="hyperscan")
    assert scanner._gate[-1] is None
    hits = scanner.scan_bytes(b"k = acme_" + b"0123456789abcdef" * 2 + b"\n", "/x", gated=True)
    assert [h.rule.id for h in hits] == ["acme"]


def test_disabled_gated_rule_keeps_the_others_gated() -> None:
    scanner = Scanner(SecretConfig(disabled=("url-password",)), engine="hyperscan")
    assert scanner._prefilter.gating
    text = f"wget --password={PASSWORD} https://u:{PASSWORD}@example.org/\n".encode()
    assert [h.rule.id for h in scanner.scan_bytes(text, "/x", gated=True)] == [
        "command-line-password"]


# -- the binary sniff, through the tar reader ------------------------------------------
def _layer(files: dict[str, bytes]) -> Iterator[bytes]:
    raw = tar_of(files)
    return iter([raw[i:i + 5000] for i in range(0, len(raw), 5000)])


class _Recording(Scanner):
    def __init__(self) -> None:
        super().__init__(engine="hyperscan")
        self.taken: list[tuple[str, int]] = []

    def take(self, layer: int, path: str, data: bytes) -> None:
        self.taken.append((path, len(data)))
        super().take(layer, path, data)


def _scan_layer(files: dict[str, bytes], make: Callable[[], Scanner] = _Recording) -> Scanner:
    scanner = make()
    read_tar(_layer(files), index=0, what="layer", wanted=None, sink=scanner)
    return scanner


def test_a_binary_file_is_never_gathered_past_its_head() -> None:
    key = fakes.aws_key_id(3).encode()
    scanner = _scan_layer({"opt/tool": b"\x7fELF\0\0" + b"x" * 3 * SNIFF + b"\n" + key + b"\n",
                           "opt/late-nul": b"y" * SNIFF + b"\0" + key + b"\n"})
    assert isinstance(scanner, _Recording)
    # The NUL past the first 8 KiB is text, as it always was: scanned, its key found.
    assert scanner.taken == [("/opt/late-nul", SNIFF + 2 + len(key))]
    assert scanner._binary == 1 and scanner._files == 1
    assert [(fh.path, fh.hit.rule.id) for fh in scanner._hits] == [
        ("/opt/late-nul", "aws-access-key-id")]


@pytest.mark.parametrize("size", [0, 100, SNIFF - 1, SNIFF, SNIFF + 1, 5 * SNIFF])
def test_a_text_file_of_any_size_is_scanned_whole(size: int) -> None:
    """A secret on the last line of a text file longer or shorter than the head."""
    token = "ghp_" + fakes.rand(fakes.ALNUM, 36, 8)
    filler = b"".join(b"line %d of the file\n" % i for i in range(size // 20 + 1))[:size]
    data = filler + f"GH_TOKEN={token}\n".encode()
    scanner = _scan_layer({"app/.env": data})
    assert [(fh.hit.rule.id, fh.hit.line) for fh in scanner._hits] == [
        ("github-pat", filler.count(b"\n") + 1)]
    assert (scanner._files, scanner._bytes, scanner._binary) == (1, len(data), 0)


def test_the_rules_to_run_are_worked_out_once_per_set_of_keywords_found(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """File after file the prefilter finds the same few keyword sets: the rules to run for
    each set are worked out once per scanner (and not at all for a file with no keyword),
    with the same findings as when worked out every time."""
    texts = [b"password = hunter2 is not a secret rule's match\n", b"just text\n",
             f"aws_secret_access_key = {fakes.aws_secret(3)}\n".encode(),
             b"password: also here\n", f"key {fakes.aws_secret(3)} secret\n".encode()] * 20
    expected = [[(h.rule.id, h.line) for h in Scanner().scan_bytes(t, "/x", gated=True)]
                for t in texts]
    scanner = Scanner()
    worked: list[frozenset[int]] = []
    real = Scanner._candidates

    def candidates(self: Scanner, present: set[int], *, gated: bool = False) -> list[int]:
        worked.append(frozenset(present))
        return real(self, present, gated=gated)

    monkeypatch.setattr(Scanner, "_candidates", candidates)
    got = [[(h.rule.id, h.line) for h in scanner.scan_bytes(t, "/x", gated=True)]
           for t in texts]
    assert got == expected
    assert any(expected)  # some rule did match
    assert len(worked) == len(set(worked))  # each set of keywords once
    assert frozenset() not in worked  # "just text": no keyword, no rules worked out
