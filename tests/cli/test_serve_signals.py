"""A service's main thread waits for SIGTERM while other threads run: the signal must stop it
even when the kernel delivers it to one of those threads."""

from __future__ import annotations

import signal
import threading
import time

from hullcheck.cli.serve import _wait


def test_a_signal_delivered_to_another_thread_still_stops_the_wait() -> None:
    stop = threading.Event()
    woken_by: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        woken_by.append("handler")
        stop.set()

    busy = threading.Event()

    def other_thread() -> None:  # a server or worker thread, blocked in a system call
        busy.set()
        time.sleep(5)

    def watchdog() -> None:  # ends the test if the handler never runs (the old endless wait)
        if not stop.wait(20):
            woken_by.append("watchdog")
            stop.set()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    try:
        worker = threading.Thread(target=other_thread, daemon=True)
        worker.start()
        busy.wait()
        threading.Thread(target=watchdog, daemon=True).start()
        assert worker.ident is not None
        signal.pthread_kill(worker.ident, signal.SIGUSR1)  # to the other thread, not main
        _wait(stop)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert woken_by[0] == "handler"
