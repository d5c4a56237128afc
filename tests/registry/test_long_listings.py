"""A listing longer than the client reads (``registry.session.MAX_PAGES``) reaches the user as
one line and exit 2, through the commands that list: ``verify`` reads the image's referrers
(its signatures may be among them), and the monitor's watch job reads a repository's tags.
The image is in the real registry; a real server on 127.0.0.1 in front of it passes every
request on, except the referrers API, which it answers with pages that never end.
(``base`` freshness lists nothing: it resolves the base's one tag.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hullcheck.cli.main import main
from hullcheck.monitor.service import Service
from hullcheck.registry import RegistryClient, media
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.sigstore.vectors import push_empty_image
from tests.monitor.support import config, drain, write_sources
from tests.registry._servers import Handler, Server, reply, serve

PAGES = 3  # MAX_PAGES in these tests


@contextmanager
def endless_referrers_in_front_of(upstream: str) -> Iterator[tuple[Server, list[str]]]:
    """Yields the front server and the referrers pages asked of it."""
    asked: list[str] = []

    def respond(h: Handler) -> None:
        if "/referrers/" not in h.path:
            passed = httpx.request(h.command, upstream + h.path, timeout=30,
                                   headers={"Accept": h.headers.get("Accept", "*/*")})
            keep = {k: v for k, v in passed.headers.items()
                    if k.lower() in ("content-type", "docker-content-digest")}
            reply(h, passed.status_code, passed.content if h.command != "HEAD" else b"", keep)
            return
        asked.append(h.path)
        page = len(asked)
        index = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [
            {"mediaType": media.OCI_MANIFEST, "digest": "sha256:" + f"{page:064x}", "size": 2,
             "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]}
        reply(h, 200, json.dumps(index).encode(), {
            "Content-Type": media.OCI_INDEX,
            "Link": f'<{h.path.split("?")[0]}?page={page + 1}>; rel="next"'})

    with serve(respond) as front:
        yield front, asked


def test_verify_refuses_referrers_that_never_end_in_one_line(
        registry: RunningRegistry, key_files: tuple[Path, Path, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("hullcheck.registry.session.MAX_PAGES", PAGES)
    with RegistryClient() as client:
        digest = push_empty_image(client, f"{registry.host}/listing/endless", tag="v1")
    with endless_referrers_in_front_of(registry.url) as (front, asked):
        code = main(["verify", f"{front.host}/listing/endless:v1", "--key", str(key_files[1])])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert lines[0] == (f"hullcheck: error: referrers of {front.host}/listing/endless@{digest} on "
                        f"{front.host} goes on past {PAGES} pages; refusing to use part of it")
    assert lines[1:] == ["hint: hullcheck reads at most this many pages of one listing; a "
                         "registry that sends more is broken or hostile"]
    assert "Traceback" not in err
    assert len(asked) == PAGES  # the page after the last read is not asked for


def endless_tags(h: Handler) -> None:
    """A registry whose tag list goes on page after page (and which has no manifests)."""
    if "/tags/list" not in h.path:
        reply(h, 404, b"", {})
        return
    page = int(h.path.partition("page=")[2] or "1")
    reply(h, 200, json.dumps({"name": "team/app", "tags": [str(page)]}).encode(),
          {"Link": f'</v2/team/app/tags/list?page={page + 1}>; rel="next"'})


def test_a_watch_of_tags_that_never_end_fails_its_job_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job fails (retried later, as any registry failure) naming the listing and the
    limit, and scans nothing: the tags it read are not taken for all of them."""
    monkeypatch.setattr("hullcheck.registry.session.MAX_PAGES", PAGES)
    write_sources(tmp_path, [])
    with serve(endless_tags) as reg:
        repo = f"{reg.host}/team/app"
        text = (f'registries: ["{reg.host}"]\nadvisories: {{sources: sources.yaml}}\n'
                f'watch: [{{repository: "{repo}", every: 10m}}]\n')
        with Service.open(data_dir=tmp_path / "data", config=config(text, base=tmp_path)) as svc:
            job = svc.ctx.store.enqueue("watch", {"repository": repo})
            drain(svc)
            failed = svc.ctx.store.job(job)
            assert failed is not None
            assert failed.last_error == (f"tag list of {repo} on {reg.host} goes on past "
                                         f"{PAGES} pages; refusing to use part of it")
            assert svc.images(repo).images == ()
        assert [s.path for s in reg.seen] == [
            "/v2/team/app/tags/list", "/v2/team/app/tags/list?page=2",
            "/v2/team/app/tags/list?page=3"]
