"""A layer worker's malloc: glibc's tuned (``analysis.tune_malloc``) in every worker the pool
starts, so the large chunks a layer is read in come from a heap that keeps its pages
instead of fresh mmaps that fault in zeroed pages each time."""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ProcessPoolExecutor

from hullcheck.filetree import analysis

BIG = 40 << 20  # above glibc's largest dynamic mmap threshold (32 MiB): mmapped by default


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


def _heap_growth() -> tuple[int, int]:
    """In a worker: how far the heap's end moved when BIG bytes were allocated, and when
    they were freed again (an mmapped block moves neither)."""
    sbrk = ctypes.CDLL(None).sbrk
    sbrk.restype = ctypes.c_void_p
    sbrk.argtypes = [ctypes.c_ssize_t]
    start = sbrk(0) or 0
    block = b"x" * BIG
    grown = (sbrk(0) or 0) - start
    del block
    return grown, (sbrk(0) or 0) - start


def _pool(tuned: bool = False) -> ProcessPoolExecutor:
    """One worker, started as the layer pool starts them (with its initializer or not)."""
    if not tuned:
        return ProcessPoolExecutor(max_workers=1, mp_context=analysis._context())
    stop = analysis._context().RawValue("b", 0)
    return ProcessPoolExecutor(max_workers=1, mp_context=analysis._context(),
                               initializer=analysis._worker_init, initargs=(stop,))


def test_a_worker_serves_large_chunks_from_its_heap_and_keeps_them() -> None:
    with _pool(tuned=True) as pool:
        grown, kept = pool.submit(_heap_growth).result()
    if not _glibc():
        assert analysis.tune_malloc() is False
        return
    assert grown >= BIG  # from the heap, not an mmap of its own
    assert kept == grown  # and not given back at once: the next chunk reuses those pages


def test_without_the_tuning_glibc_would_mmap_them() -> None:
    """The control: the same allocation in a worker without the initializer is mmapped (so
    the test above sees the tuning, not glibc's defaults)."""
    with _pool() as pool:
        grown, kept = pool.submit(_heap_growth).result()
    assert grown < BIG
    assert kept < BIG


def test_tune_malloc_says_whether_it_applied() -> None:
    with _pool() as pool:
        assert pool.submit(analysis.tune_malloc).result() is _glibc()
