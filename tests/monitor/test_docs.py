"""The receiver example in docs/monitor-channels.md works against the webhook channel."""

from __future__ import annotations

import re
import threading
from http.server import HTTPServer
from pathlib import Path

import pytest

from hullcheck.monitor.channels import Outcome, WebhookChannel
from tests.monitor.events import finding_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitor-channels.md"


def test_the_documented_receiver_accepts_signed_and_refuses_forged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(code) == 1
    monkeypatch.setenv("HOOK_SECRET", "documented-secret")
    namespace: dict[str, object] = {"__name__": "receiver_example"}
    exec(compile(code[0], str(DOC), "exec"), namespace)
    handler = namespace["Receiver"]
    assert isinstance(handler, type)
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    event = finding_event("CVE-2024-0001", "critical", "openssl", "3.0.11-1")
    try:
        signed = WebhookChannel(name="ops", url=url, secret="documented-secret")
        first = signed.send([event], "evt-1")
        retried = signed.send([event], "evt-1")
        forged = WebhookChannel(name="ops", url=url, secret="guessed").send([event], "evt-2")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert first.ok and retried.ok and "HTTP 204" in first.detail
    assert forged.outcome is Outcome.PERMANENT and "HTTP 401" in forged.detail
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"new-finding {event['image']['digest']} CVE-2024-0001"]
