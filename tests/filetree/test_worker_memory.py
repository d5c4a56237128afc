"""A layer worker's malloc: glibc's tuned (``analysis.tune_malloc``) in every worker the pool
starts, so the large chunks a layer is read in come from a heap that keeps its pages
instead of fresh mmaps that fault in zeroed pages each time. (glibc counts the bytes it
holds in mmapped chunks: ``mallinfo2``.)"""

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


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mmapped_bytes() -> int:
    """glibc's count of bytes held in chunks of their own mmap (``mallinfo2().hblkhd``)."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _Mallinfo2
    return int(mallinfo2().hblkhd)


def _mmapped_for_big_block() -> int:
    """In a worker: how many more bytes sit in mmapped chunks while BIG bytes are held
    (whatever the heap the worker inherited holds already)."""
    before = _mmapped_bytes()
    block = b"x" * BIG
    during = _mmapped_bytes()
    del block
    return during - before


def _leave_free_heap() -> None:
    """Leave this process's heap with ~100 MB free below live chunks (1 MB blocks, once
    glibc's dynamic threshold puts them on the heap, freed while later ones stay): what a
    test that read a large file in this process leaves behind, and what a forked worker
    would allocate the big block from."""
    pinned = []
    for _ in range(2):
        blocks = [bytearray(1_000_000) for _ in range(100)]
        pinned += [bytearray(1000) for _ in range(100)]
        del blocks
    _PINNED.extend(pinned)


_PINNED: list[bytearray] = []


def _pool(tuned: bool = False) -> ProcessPoolExecutor:
    """One worker with the layer pool's initializer or without it, spawned: a forked worker
    (as the layer pool forks them) inherits this process's heap, and a free chunk there that
    an earlier test left (tens of MB once freed) serves the big block without any mmap,
    tuned or not; a spawned one starts from a fresh heap, so the allocation shows glibc's
    setting and nothing else."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    if not tuned:
        return ProcessPoolExecutor(max_workers=1, mp_context=context)
    stop = context.RawValue("b", 0)
    return ProcessPoolExecutor(max_workers=1, mp_context=context,
                               initializer=analysis._worker_init, initargs=(stop,))


def test_a_worker_serves_large_chunks_from_its_heap() -> None:
    if not _glibc():
        assert analysis.tune_malloc() is False
        return
    with _pool(tuned=True) as pool:
        assert pool.submit(_mmapped_for_big_block).result() == 0  # from the heap it keeps


def test_without_the_tuning_glibc_would_mmap_them() -> None:
    """The control: the same allocation in a worker without the initializer is mmapped (so
    the test above sees the tuning, not glibc's defaults)."""
    if not _glibc():
        return
    _leave_free_heap()  # as an earlier test may: the worker must not see it
    with _pool() as pool:
        assert pool.submit(_mmapped_for_big_block).result() >= BIG


def test_tune_malloc_says_whether_it_applied() -> None:
    with _pool() as pool:
        assert pool.submit(analysis.tune_malloc).result() is _glibc()
