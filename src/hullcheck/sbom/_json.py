"""JSON documents written piece by piece, byte for byte as ``json.dumps(doc, indent=2)`` writes
them, into a binary stream.

Hand-written because the json module indents in pure Python, through generators that join
every token of the document into one string (a 3,000-package SPDX document held ~7 times its
size while being encoded); here each piece is written once, strings escaped by the json
module's own C functions, and the pieces are encoded in batches (``Pieces``), so what is
held is the bytes written so far and one batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import BinaryIO

Write = Callable[[str], object]
Quote = Callable[[str], str]
Other = Callable[[object], "str | None"]  # the text of a value of the caller's own kind
BATCH = 8192  # pieces joined and encoded at a time
BLOCK = 1 << 18  # characters of large pieces (``Pieces.block``) encoded at a time


def dump(o: object, nl: str, write: Write, quote: Quote = encode_basestring,
         other: Other | None = None) -> None:
    """``o`` as ``json.dumps(o, indent=2)`` writes it nested where a line starts with ``nl``
    ("\\n" at the top level); ``quote`` escapes strings (``encode_basestring_ascii`` is
    ``ensure_ascii=True``). Strings, ints, booleans, None, lists, tuples and dicts with
    string keys; anything else as ``other`` gives its text (None: not its kind), else as
    ``json.dumps`` writes it."""
    if o.__class__ is str:
        write(quote(o))  # type: ignore[arg-type,unused-ignore]
    elif isinstance(o, dict):
        if not o:
            write("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        for k, v in o.items():
            write(sep + quote(k) + ": ")
            dump(v, inner, write, quote, other)
            sep = "," + inner
        write(nl + "}")
    elif isinstance(o, list | tuple):
        if not o:
            write("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        for v in o:
            write(sep)
            dump(v, inner, write, quote, other)
            sep = "," + inner
        write(nl + "]")
    elif o is None:
        write("null")
    elif o is True or o is False:
        write("true" if o else "false")
    elif isinstance(o, int):
        write(int.__repr__(o))
    elif isinstance(o, str):
        write(quote(o))
    elif other is not None and (text := other(o)) is not None:
        write(text)
    else:  # floats and others
        write(json.dumps(o, ensure_ascii=quote is encode_basestring_ascii))


class Pieces:
    """Text written in pieces to the binary ``out``, encoded ``BATCH`` pieces at a time (as
    encoding the whole text would: UTF-8 and its error handlers work per character)."""

    def __init__(self, out: BinaryIO, encoding: str = "utf-8", errors: str = "strict") -> None:
        self._out, self._encoding, self._errors = out, encoding, errors
        self._pieces: list[str] = []
        self._chars = 0  # of the pieces ``block`` wrote since the last flush

    def write(self, piece: str) -> None:
        self._pieces.append(piece)
        if len(self._pieces) >= BATCH:
            self.flush()

    def block(self, piece: str) -> None:
        """``write`` of a piece of many lines: encoded once such pieces reach ``BLOCK``
        characters, so that a batch of them is not held whole."""
        self._pieces.append(piece)
        self._chars += len(piece)
        if self._chars >= BLOCK or len(self._pieces) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pieces:
            text = "".join(self._pieces)
            self._pieces.clear()
            self._chars = 0
            self._out.write(text.encode(self._encoding, self._errors))


class Document:
    """A JSON object's fields written in turn, indented as ``json.dumps(doc, indent=2)``
    indents them; an array field's elements may come one at a time (``start``, ``element``
    or ``line``, ``end``), so a document of thousands of packages is never held whole.
    ``line`` takes an element already written as one line of JSON (SPDX's files and
    relationships: most of its elements, as Syft writes them)."""

    def __init__(self, text: Pieces) -> None:
        self._write, self._block = text.write, text.block
        self._sep = "{\n  "
        self._item = ""

    def field(self, key: str, value: object, quote: Quote = encode_basestring) -> None:
        self._write(f"{self._sep}{quote(key)}: ")
        dump(value, "\n  ", self._write, quote)
        self._sep = ",\n  "

    def start(self, key: str, quote: Quote = encode_basestring) -> None:
        """An array field whose elements follow, then ``end``."""
        self._write(f"{self._sep}{quote(key)}: [")
        self._item = "\n    "

    def element(self, value: object, quote: Quote = encode_basestring) -> None:
        self._write(self._item)
        dump(value, "\n    ", self._write, quote)
        self._item = ",\n    "

    def line(self, text: str) -> None:
        self._write(self._item + text)
        self._item = ",\n    "

    def lines(self, texts: list[str]) -> None:
        """``line`` of each text, written as one piece (``Pieces.block``)."""
        if texts:
            self._block(self._item + ",\n    ".join(texts))
            self._item = ",\n    "

    def end(self) -> None:
        self._write("\n  ]" if self._item != "\n    " else "]")
        self._sep = ",\n  "

    def close(self) -> None:
        """The object's closing brace (``{}`` when it had no field) and a newline."""
        self._write("{}\n" if self._sep == "{\n  " else "\n}\n")


__all__ = ["BATCH", "BLOCK", "Document", "Pieces", "dump", "encode_basestring", "encode_basestring_ascii"]
