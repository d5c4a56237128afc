"""`make demo` runs the monitoring service on the sample: the push, the advisory update and
the one alert it causes, signed, at the demo's local receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[3] / "scripts" / "demo.py"


def test_the_demo_shows_the_update_alert_arriving(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("HULLCHECK_TOKEN", None)
    done = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    err = done.stderr
    after_update = err.split("is published; an admin asks for an update", 1)[1]
    alerts = [line for line in after_update.splitlines() if "receiver <- " in line]
    assert alerts == [
        "   receiver <- new-finding: CVE-2019-11324 (unknown) in urllib3 1.24.1 of "
        "demo.example/hullcheck-demo [signature verified]"]
    assert "1 new alert(s) from the update" in err
    before = err.split("is published", 1)[0]
    assert "receiver <- new-finding: MAL-2023-1547 (malicious) in algo-svnlook" in before
    assert "BAD SIGNATURE" not in err
    # the push printed the digest, and the query found the image by the new advisory
    assert "demo.example/hullcheck-demo" in done.stdout and "CVE-2019-11324" in done.stdout
