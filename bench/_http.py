"""The benches' POST receiver (the registry's notifications, the service's webhooks) is the
tests' (``tests/fixtures/posts.py``; the benches import test fixtures already): here each
body goes to ``on_post``, whose return is the status sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.fixtures.posts import receive_posts


@contextmanager
def post_receiver(on_post: Callable[[bytes], int]) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` while the block runs (any path is accepted)."""
    with receive_posts(lambda post: on_post(post.body)) as url:
        yield url
