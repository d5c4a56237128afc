"""licenseclassifier's word splitting (``Dict.split``: the words of a text as dictionary ids,
with their offsets), the same words in about a fifth of the time.

The library looks at every character in Python. Here the runs of ASCII letters and digits
(most of a licence text) and of ASCII characters that neither start a word nor anything the
library skips (HTML tags and entities, Markdown anchors and links) are found by regular
expressions; every other character goes through the library's own steps, in the same
order. Hand-written because the library has no faster path; tests/catalog/
test_license_words.py checks it word for word against ``Dict.split`` (real copyright files,
HTML, Markdown, accents, combining marks, ``(c)``, ``©``, ``(s)``, random text).

``builtin_scanner`` loads the library's scanner from its file at once (its own loader
unmarshals from the gzip stream in some 40,000 small reads), and ``LazySteps`` walks its
matcher's states computing only the steps a text takes: the library computes, for each
state it reaches, the step on every word the state could take next (most never taken).
Same states, same matches (checked against the library in the same test file).

This module imports nothing of hullcheck: the licence helper process (``catalog.license``)
loads it by its path, without the catalog package.
"""

from __future__ import annotations

import gzip
import importlib
import marshal
import re
import zlib
from typing import Any

from licenseclassifier._engine import dictionary as lib
from licenseclassifier._engine import matcher as nfa

Word = tuple[int, int, int]  # dictionary id (or BAD_WORD), start, end

# What the library may act on: a run of ASCII letters and digits (a word, or its start), or
# one character that may start markup or a word (every other ASCII character it passes by).
_TOKEN = re.compile(r"[A-Za-z0-9]+|[<{&\]\x80-\U0010FFFF]")


def split(d: lib.Dict, text: str) -> list[Word]:
    """``d.split(text)``: the same list."""
    words: list[Word] = []
    append = words.append
    ids = d._map  # the library's own dictionary, read as its _emit reads it
    canon = lib._CANON
    bad = lib.BAD_WORD
    n = len(text)
    i = 0  # where the library's loop is: tokens before it were consumed
    for m in _TOKEN.finditer(text):
        lo, j = m.span()
        if lo < i:
            continue
        c = text[lo]
        if c < "\x80" and c.isalnum():
            w = m.group().lower()
            if j < n and text[j] >= "\x80" and lib._is_word_continue(text[j]):
                w, j = _continued(w, text, j)
        else:
            skipped = _skipped(d, words, text, lo, c)
            if skipped:
                i = lo + skipped
                continue
            if not lib._is_word_start(c):
                i = lo + 1
                continue
            w, j = _word(text, lo)
        if j < n and text[j] == "(" and c != "©" and text[j:j + 3] == "(s)":
            w += "s"
            j += 3
        hi = i = j
        if w == "https":
            w = "http"
        elif w == "c" and lo > 0 and text[lo - 1] == "(" and hi < n and text[hi] == ")":
            w = "copyright"
            lo -= 1
            hi += 1
        elif w == "©":
            w = "copyright"
        w = canon.get(w, w)
        found = ids.get(w)
        if found is None:
            append((bad, lo, hi))
        elif not (words and words[-1][0] == found and w == "copyright"):
            append((found, lo, hi))
    return words


def _skipped(d: lib.Dict, words: list[Word], text: str, i: int, c: str) -> int:
    """How many characters from ``i`` the library passes over as markup (0: none), the
    ``&copy;`` entity emitted as the word it is."""
    if c == "<":
        size = lib._html_tag_size(text, i)
    elif c == "{":
        size = lib._markdown_anchor_size(text, i)
    elif c == "&":
        size = lib._html_entity_size(text, i)
        if size > 0 and text[i:i + size] == "&copy;":
            d._emit(words, "copyright", i, i + size, False)
    else:
        size = 0
    if size > 0:
        return size
    if c == "]" and i + 1 < len(text) and text[i + 1] == "(":
        return lib._markdown_link_size(text, i)
    return 0


def _continued(w: str, text: str, j: int) -> tuple[str, int]:
    """An ASCII start ``w`` continued, character by character, from ``j``."""
    parts = [w]
    n = len(text)
    while j < n and lib._is_word_continue(text[j]):
        folded = lib.fold_rune(text[j])
        if folded is not None:
            parts.append(folded)
        j += 1
    return "".join(parts), j


def _word(text: str, i: int) -> tuple[str, int]:
    """A word starting at a non-ASCII character, as the library reads it."""
    c = text[i]
    folded = lib.fold_rune(c)
    w = folded if folded is not None else ""
    if c == "©":
        return w, i + 1
    return _continued(w, text, i + 1)


def install(scanner: Any) -> None:
    """Make ``scanner`` (``licenseclassifier._engine.Scanner``) split with ``split``."""
    d = scanner.dict
    d.split = lambda text: split(d, text)


State = tuple[int, ...]  # the matcher's NFA program counters: one state of its DFA


class _StateInfo:
    """What ``MultiRE._state_info`` says of a state, the steps made when first taken."""

    __slots__ = ("any_next", "match", "steps", "words", "wordset")

    def __init__(self, ops: Any, args: Any, state: State) -> None:
        match = -1
        words: set[int] = set()
        has_any = False
        for pc in state:
            op = ops[pc]
            if op == nfa.INST_MATCH:
                if match == -1 or args[pc] < match:
                    match = args[pc]
            elif op == nfa.INST_ANY:
                has_any = True
            elif op == nfa.INST_WORD:
                words.add(args[pc])
        self.match = match  # the licence matched in this state (the lowest id), or -1
        self.words = sorted(words)  # the words it may take next, in the library's order
        self.wordset = words
        self.steps: dict[int, State] = {}
        self.any_next = nfa._nfa_next(ops, args, state, lib.ANY_WORD) if has_any else None


class LazySteps:
    """``MultiRE._match_dfa`` of ``regex`` (a scanner's ``re``), each state's step on a word
    computed when a text takes it (``_nfa_next``, as the library computes it)."""

    def __init__(self, regex: Any) -> None:
        self.regex = regex
        self.ops, self.args = regex.ops, regex.args
        self._infos: dict[State, _StateInfo] = {}

    def info(self, state: State) -> _StateInfo:
        found = self._infos.get(state)
        if found is None:
            found = self._infos[state] = _StateInfo(self.ops, self.args, state)
        return found

    def step(self, info: _StateInfo, state: State, word: int) -> State:
        found = info.steps.get(word)
        if found is None:
            found = info.steps[word] = nfa._nfa_next(self.ops, self.args, state, word)
        return found

    def match_dfa(self, text: str, words: list[Word], start: int) -> tuple[int, int]:
        """The library's ``_match_dfa``, line for line, with ``nmap[w]`` as ``step``."""
        dwords = self.regex.dict.list
        match, end = -1, 0
        state = self.regex._start_state
        n = len(words)
        i = start
        while i < n:
            w_id = words[i][0]
            info = self.info(state)
            if info.match >= 0:
                match, end = info.match, i - start
            if w_id in info.wordset:
                state = self.step(info, state, w_id)
                i += 1
                continue
            # The library's spelling allowances: two words joined, a word run on, a typo.
            have = lib.to_fold(text[words[i][1]:words[i][2]])
            have2 = lib.to_fold(text[words[i + 1][1]:words[i + 1][2]]) if i + 1 < n else ""
            advanced = False
            for dw in info.words:
                want = dwords[dw]
                if nfa._can_misspell_join(want, have, have2):
                    state = self.step(info, state, dw)
                    i += 2
                    advanced = True
                    break
                if len(have) > len(want) and have[:len(want)] == want:
                    dnext = self.step(info, state, dw)
                    info2 = self.info(dnext)
                    rest = have[len(want):]
                    next2 = info2.any_next
                    for dw2 in info2.words:
                        if dwords[dw2] == rest:
                            next2 = self.step(info2, dnext, dw2)
                    if next2 is not None:
                        if info2.match >= 0:
                            match, end = info2.match, i - start
                        state = next2
                        i += 1
                        advanced = True
                        break
                if nfa._can_misspell(want, have):
                    state = self.step(info, state, dw)
                    i += 1
                    advanced = True
                    break
            if advanced:
                continue
            if info.any_next is None:
                return match, end
            state = info.any_next
            i += 1
        last = self.info(state).match
        if last >= 0:
            match, end = last, n - start
        return match, end


def install_steps(scanner: Any) -> None:
    """Make ``scanner``'s matcher walk its states with ``LazySteps``."""
    scanner.re._match_dfa = LazySteps(scanner.re).match_dfa


def builtin_scanner() -> Any:
    """The library's shared scanner (``licenseclassifier._engine.builtin_scanner``), with
    ``split`` and ``LazySteps`` installed. On first use it is made from the library's prebuilt file read and
    inflated in one piece, then unmarshalled: the same data the library's loader reads from
    the gzip stream in small pieces, ~18 ms against ~44 (the helper's start, bench/README.md).
    A file the library would refuse is left to the library (it compiles from source)."""
    scan: Any = importlib.import_module("licenseclassifier._engine.scan")  # not the function
    if scan._builtin is None:
        try:  # the library's own file, installed with it (what its loader reads): not input
            data = marshal.loads(gzip.decompress(scan._ARTIFACT_PATH.read_bytes()))  # noqa: S302
            if data.get("version") == scan.FORMAT_VERSION:
                scan._builtin = scan.Scanner.from_compiled(data)
        except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, zlib.error):
            pass
    scanner = scan.builtin_scanner()
    install(scanner)
    install_steps(scanner)
    return scanner
