"""A worker killed with SIGKILL mid-job, on both backends, with real processes: the scan it
was running is retried by another worker, and a delivery it was sending is sent again with
the same idempotency key, so a receiver that keeps keys handles every event exactly once.

The worker is caught mid-job by real servers that hold their answer: a registry proxy that
stalls the image's first blob until the test has killed the worker, and a webhook receiver
that never answers its first POST."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from hullcheck.fleet.model import DeliveryStatus
from hullcheck.monitor.service import Service
from tests.fixtures.posts import Post, receive_posts
from tests.fixtures.registry import RunningRegistry
from tests.monitor.support import (
    HOOK_SECRET,
    config,
    drain,
    osv_record,
    push_image,
    python_image,
    write_sources,
)

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT = 120.0  # a bound on waiting for a process to reach a point, not a speed limit

SUFFIX = uuid.uuid4().hex[:8]  # repository names unique in the session's registry


@contextmanager
def stalling_proxy(upstream: str) -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A registry proxy: forwards to ``upstream``; the first blob GET waits for ``release``
    after setting ``reached``. Yields (host, reached, release)."""
    reached, release = threading.Event(), threading.Event()
    client = httpx.Client(timeout=30)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if "/blobs/" in self.path and self.command == "GET" and not reached.is_set():
                reached.set()
                release.wait(WAIT)
                return  # the connection closes: the killed worker never saw an answer
            resp = client.request(self.command, upstream + self.path,
                                  headers={k: v for k, v in self.headers.items()
                                           if k.lower() in ("accept", "authorization")})
            self.send_response(resp.status_code)
            for name in ("Content-Type", "Docker-Content-Digest", "Www-Authenticate"):
                if name in resp.headers:
                    self.send_header(name, resp.headers[name])
            self.send_header("Content-Length", str(len(resp.content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.content)

        do_GET = do_HEAD = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", reached, release
    finally:
        release.set()
        server.shutdown()
        client.close()


@contextmanager
def hanging_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]], threading.Event,
                                         threading.Event]]:
    """A webhook receiver recording (delivery key, body) of each POST; the first POST is
    recorded and never answered (until ``release``). Yields (url, posts, reached, release)."""
    posts: list[tuple[str, bytes]] = []
    reached, release = threading.Event(), threading.Event()
    lock = threading.Lock()

    def on_post(post: Post) -> int | None:
        with lock:
            posts.append((post.headers.get("X-Hullcheck-Delivery", ""), post.body))
            first = not reached.is_set()
            reached.set()
        if first:
            release.wait(WAIT)
            return None  # no answer: the connection closes
        return 204

    with receive_posts(on_post) as url:
        try:
            yield f"{url}/hook", posts, reached, release
        finally:
            release.set()


def worker(tmp_path: Path, database_url: str | None, name: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "hullcheck", "worker", "--data-dir", str(tmp_path / "data"),
            "--config", str(tmp_path / "monitor.yaml"), "--threads", "1", "--lease", "2s",
            "--delivery-lease", "2s"]
    if database_url:
        argv += ["--database-url", database_url]
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOOK_SECRET": HOOK_SECRET}
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def wait_for(event: threading.Event, what: str, process: subprocess.Popen[bytes],
             log: Path) -> None:
    if not event.wait(WAIT):
        process.kill()
        raise AssertionError(f"{what} never happened; worker log:\n{log.read_text()[-3000:]}")


def test_a_killed_worker_duplicates_nothing(tmp_path: Path, registry: RunningRegistry,
                                            database_url: str | None) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28"), osv_record("PYSEC-2023-74")])
    image = python_image({"requests": "2.19.0"})
    digest = push_image(registry.host, f"kill/app-{SUFFIX}:1.0", image)
    with stalling_proxy(registry.url) as (proxy, blob_asked, blob_release), \
            hanging_receiver() as (hook, posts, posted, post_release):
        text = f"""
registries: [{{host: "{proxy}"}}]
advisories: {{sources: sources.yaml}}
channels: [{{name: ops, type: webhook, url: "{hook}", secret-env: HOOK_SECRET}}]
alerts: [{{name: all, when: [new-finding], channels: [ops]}}]
"""
        (tmp_path / "monitor.yaml").write_text(text)
        with Service.open(data_dir=tmp_path / "data", database_url=database_url,
                          config=config(text, base=tmp_path)) as svc:
            svc.update_advisories(requested_by="test")
            drain(svc)
            job = svc.submit_scan(f"{proxy}/kill/app-{SUFFIX}:1.0",
                                  requested_by="test")

            first = worker(tmp_path, database_url, "first")
            wait_for(blob_asked, "the first worker reading a blob", first,
                     tmp_path / "first.log")
            kill(first)  # mid-scan: nothing recorded, the job is running
            info = svc.job(job)
            assert info is not None and info.status == "running"
            scanning = svc.image(digest)
            assert scanning is not None and scanning.status == "pending"
            blob_release.set()

            second = worker(tmp_path, database_url, "second")
            wait_for(posted, "the second worker delivering", second, tmp_path / "second.log")
            kill(second)  # mid-delivery: the receiver has the body, the service no answer
            post_release.set()

            third = worker(tmp_path, database_url, "third")
            try:
                deadline = time.monotonic() + WAIT
                while time.monotonic() < deadline:
                    pending = svc.store.deliveries(DeliveryStatus.PENDING)
                    done = svc.store.deliveries(DeliveryStatus.DELIVERED)
                    if not pending and done:
                        break
                    time.sleep(0.2)
            finally:
                third.send_signal(signal.SIGTERM)
                third.wait(timeout=WAIT)

            info = svc.job(job)
            assert info is not None and info.status == "done" and info.attempts >= 2, info
            stored = svc.image(digest)
            assert stored is not None and stored.status == "scanned"
            assert sorted(f.finding.advisory_id for f in stored.findings) == \
                ["CVE-2018-18074", "CVE-2023-32681"]
            delivered = svc.store.deliveries(DeliveryStatus.DELIVERED)
            assert len(delivered) == 2 and not svc.store.dead_letters()

    keys = [k for k, _ in posts]
    # Each event reached the receiver under its own key; the one whose sender was killed
    # came again with the same key and the same body, which the receiver drops.
    assert sorted(set(keys)) == sorted(d.idempotency_key for d in delivered)
    assert len(keys) == 3 and keys.count(keys[0]) == 2
    bodies = {k: {b for kk, b in posts if kk == k} for k in set(keys)}
    assert all(len(b) == 1 for b in bodies.values())
    events = [json.loads(next(iter(b)))["finding"]["id"] for b in bodies.values()]
    assert sorted(events) == ["CVE-2018-18074", "CVE-2023-32681"]
