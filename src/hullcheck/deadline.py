"""One deadline for a whole command (``--timeout 5m``) or one admission review.

    with deadline.within(300.0, "sbom registry.example/app:1"):
        ...                          # every network wait below is bounded by what is left
    deadline.check("reading layer sha256:...")   # DeadlineExceeded once the time is up
    timeout = deadline.clamp(30.0)               # a per-operation timeout, never past it

The deadline lives in a context variable, so concurrent admission reviews (one thread
each) have their own. Threads started inside a deadline do not inherit context variables:
run their work through :func:`carry`, which gives each call a copy of the caller's context.
A per-read timeout alone cannot bound a server that sends one byte every few seconds; code
that reads in a loop calls :func:`check` between reads and :func:`clamp` for each read.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from hullcheck.errors import DeadlineExceeded, UsageError

DEFAULT_TIMEOUT = 300.0  # seconds; Trivy's default is 5m too

P = ParamSpec("P")
R = TypeVar("R")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


@dataclass(frozen=True, slots=True)
class _Deadline:
    at: float  # time.monotonic() value
    seconds: float
    what: str


_current: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "hullcheck_deadline", default=None
)


def parse_duration(text: str) -> float:
    """``20s``, ``5m``, ``1h30m``, ``500ms`` or plain seconds (``90``) -> seconds."""
    raw = text.strip()
    if not raw:
        raise UsageError("a duration is empty; write e.g. 30s, 5m or 1h")
    try:
        seconds = float(raw)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _DURATION.finditer(raw):
            if m.start() != pos:
                break
            value = float(m.group(1))
            seconds += value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
            pos = m.end()
        if pos != len(raw) or pos == 0:
            raise UsageError(f"{text!r} is not a duration; write e.g. 30s, 5m or 1h") from None
    if not seconds > 0 or seconds > 7 * 86400:
        raise UsageError(f"duration {text!r} must be more than 0 and at most 7 days")
    return seconds


@contextmanager
def within(seconds: float | None, what: str) -> Iterator[None]:
    """Run the body under a deadline ``seconds`` from now (None: no deadline). A deadline
    already in force that ends sooner stays in force."""
    if seconds is None:
        yield
        return
    at = time.monotonic() + seconds
    outer = _current.get()
    if outer is not None and outer.at <= at:
        yield
        return
    token = _current.set(_Deadline(at=at, seconds=seconds, what=what))
    try:
        yield
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """Seconds left (never negative), or None without a deadline."""
    current = _current.get()
    if current is None:
        return None
    return max(current.at - time.monotonic(), 0.0)


def check(what: str) -> None:
    """Raise :class:`DeadlineExceeded` when the deadline has passed."""
    current = _current.get()
    if current is not None and time.monotonic() >= current.at:
        raise DeadlineExceeded(
            f"{current.what}: gave up after {_human(current.seconds)} (--timeout) while {what}"
        )


def clamp(timeout: float) -> float:
    """``timeout``, shortened to what is left of the deadline (at least a millisecond, so a
    read fails with a timeout rather than blocking or being refused)."""
    left = remaining()
    return timeout if left is None else max(min(timeout, left), 0.001)


def carry(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run, at each call, in a copy of the caller's context (for thread pools)."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return run


def _human(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
