"""The interpreter's thread switch interval, shortened while layers are read: see
``SwitchInterval``."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

# Short enough that a finished decompress call takes the GIL back at once (Python's default
# is 5 ms; bench/README.md has the measurements that chose this).
SHORT_SWITCH_INTERVAL = 0.0001


class SwitchInterval:
    """Decompression runs in C with the GIL released, beside the tar parser in Python: a
    short switch interval (``SHORT_SWITCH_INTERVAL``) lets a finished decompress call take
    the GIL back at once instead of idling behind the parser. The interval is
    process-wide, so concurrent builds (the admission server) share one change: the first
    to start sets it, the last to finish restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    @contextlib.contextmanager
    def short(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SHORT_SWITCH_INTERVAL))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    sys.setswitchinterval(self._saved)


SWITCH = SwitchInterval()
