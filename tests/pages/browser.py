"""Debian's chromium, driven through Debian's chromium-driver by selenium: never a
downloaded browser (selenium's own manager is bypassed by naming the driver's path).

Chromium as root needs ``--no-sandbox``; the other switches keep it from reaching the
network on its own (updates, sync, safe browsing) and from reusing a profile."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)


def missing() -> str:
    """What is not installed ("" when both are): scripts/setup-system.sh installs them."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return ", ".join(absent)


@contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[webdriver.Chrome]:
    profile = Path(tempfile.mkdtemp(prefix="hullcheck-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps",
                 "--disable-extensions", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    if size[0] < 500:  # a desktop window cannot be this narrow: emulate a phone's screen
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": size[0], "height": size[1], "pixelRatio": 3.0, "touch": True}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=DriverService(executable_path=str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole page (beyond the viewport, through the DevTools protocol) as a PNG for a
    reviewer."""
    import base64

    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "fromSurface": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The browser console's errors: a CSP violation shows here."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
