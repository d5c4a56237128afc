"""The pages as a person uses them, in Debian's chromium (headless, driven by selenium through
chromium-driver) against the real service on 127.0.0.1: sign in, the fleet, an image, an
advisory, a search, a VEX decision recorded with the form and then seen on the page and in
the API's OpenVEX export, log out and be refused. No CSP violation or script error in the
console anywhere; keyboard-only use works; each page is screenshotted at 1280 px and on a
phone into tests/pages/screenshots/ for a reviewer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.pages.browser import PHONE, chromium, console_errors, missing, screenshot
from tests.pages.support import AWS_KEY, REPO, Site, fill, running
from tests.server.api.support import drain

CVE = "CVE-2019-11324"
POLICY = """apiVersion: hullcheck/v1
kind: Policy
metadata: {name: production}
rules:
  - {id: no-secrets, type: secrets}
"""


@pytest.fixture
def browser_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 registry) -> Iterator[Site]:
    assert not missing(), f"not installed: {missing()} (scripts/setup-system.sh installs them)"
    (tmp_path / "policy.yaml").write_text(POLICY)
    with running(tmp_path, registry=registry.host, extra_config="policy: policy.yaml\n") as site:
        fill(site, tmp_path, monkeypatch, registry=registry.host)
        yield site


def sign_in(d: WebDriver, site: Site, token: str) -> None:
    d.get(site.url + "/")
    assert "/login?next=/" in d.current_url
    field = d.find_element(By.ID, "token")
    field.send_keys(token)
    field.send_keys(Keys.ENTER)  # the keyboard submits the form
    WebDriverWait(d, 30).until(lambda drv: drv.current_url == site.url + "/")


def text(d: WebDriver) -> str:
    return d.find_element(By.TAG_NAME, "body").text


def test_a_person_signs_in_looks_triages_and_logs_out(browser_site: Site) -> None:
    site = browser_site
    web, secret = site.digests["web"], site.digests["secret"]
    with chromium() as d:
        d.get(site.url + "/")
        screenshot(d, "login")
        sign_in(d, site, site.tokens["write"])

        # the fleet: at risk first, each reason and severity in words
        body = text(d)
        assert "Images at risk" in body and "1 malicious package" in body
        rows = d.find_elements(By.CSS_SELECTOR, "table.risk tbody tr")
        assert "lab/frontend" in rows[0].text and "lab/trainer" in rows[1].text
        assert "shop/secret" in rows[2].text and "policy failing" in rows[2].text
        assert d.find_element(By.CSS_SELECTOR, "svg.trend title").get_attribute(
            "textContent") == "Open findings per day"
        screenshot(d, "fleet")

        # an image: through its link, as a person would
        d.find_element(By.PARTIAL_LINK_TEXT, "lab/trainer").click()
        assert "ultralytics" in text(d)
        # the image scanned from the registry: its secret, in a layer a later one deleted
        d.get(f"{site.url}/images/{secret}")
        secrets = d.find_element(By.ID, "secrets").find_element(By.XPATH, "..").text
        assert "/root/.aws/credentials" in secrets
        assert "deleted by a later layer (#2), still shipped" in secrets
        assert AWS_KEY not in d.page_source and AWS_KEY[:4] in secrets  # redacted
        assert "Image runs as root" in secrets and "CIS 4.1" in secrets  # its config checks
        policy = d.find_element(By.ID, "policy").find_element(By.XPATH, "..").text
        assert "FAIL" in policy and "production" in policy and "no-secrets" in policy
        screenshot(d, "image-secret")

        # the package search box swaps the table in place (htmx, from /static)
        d.get(f"{site.url}/images/{site.digests['worker']}")
        box = d.find_element(By.ID, "pq")
        box.send_keys("six")
        WebDriverWait(d, 30).until(lambda drv: "1 package matching" in drv.find_element(
            By.ID, "package-table").text)
        assert d.current_url.endswith(site.digests["worker"])  # no reload: swapped in place
        screenshot(d, "image")

        # an advisory, through the finding's link
        d.get(f"{site.url}/images/{web}")
        d.find_element(By.LINK_TEXT, CVE).click()
        body = text(d)
        assert "fix available" in body and "prod/shop/web" in body
        screenshot(d, "advisory")

        # search from the header box
        d.find_element(By.ID, "q").send_keys("pkg:pypi/urllib3@1.24.1", Keys.ENTER)
        WebDriverWait(d, 30).until(lambda drv: "/search" in drv.current_url)
        body = text(d)
        assert "2 images" in body and "shipped, not visible (layer 1)" in body
        screenshot(d, "search")

        # a VEX decision with its justification, from the form
        d.get(f"{site.url}/images/{web}")
        d.find_element(By.CSS_SELECTOR, f'tr[id="f-{CVE}-urllib3"] a.button').click()
        d.find_element(By.CSS_SELECTOR, 'input[name="action"][value="vex"]').click()
        Select(d.find_element(By.ID, "vex_status")).select_by_value("not_affected")
        Select(d.find_element(By.ID, "justification")).select_by_value(
            "vulnerable_code_not_in_execute_path")
        d.find_element(By.ID, "reason").send_keys("certificates are never verified here")
        screenshot(d, "triage")
        d.find_element(By.CSS_SELECTOR, "form.triage button[type=submit]").click()
        WebDriverWait(d, 30).until(lambda drv: "done=vex" in drv.current_url)
        assert "Recorded: vex" in text(d)
        drain(site.service)  # the worker's re-match, run here
        d.refresh()
        row = d.find_element(By.ID, f"f-{CVE}-urllib3").text
        assert "not_affected" in row and "suppressed" in row
        assert "triage.vex" in d.find_element(By.ID, "audit").find_element(By.XPATH, "..").text
        screenshot(d, "image-after-vex")
        errors = console_errors(d)

        # log out, and be refused
        d.find_element(By.CSS_SELECTOR, "form.who button").click()
        WebDriverWait(d, 30).until(lambda drv: "/login" in drv.current_url)
        assert "You are logged out" in text(d)
        d.get(f"{site.url}/images/{web}")
        assert "/login?next=" in d.current_url and "urllib3" not in d.page_source

    assert errors == []  # no CSP violation, no failed asset, no script error
    openvex = httpx.get(f"{site.url}/api/v1/vex", params={"repository": f"{REPO}/web"},
                        headers={"Authorization": f"Bearer {site.tokens['read']}"}).json()
    (statement,) = openvex["statements"]
    assert (statement["vulnerability"]["name"], statement["status"],
            statement["justification"]) == (CVE, "not_affected",
                                             "vulnerable_code_not_in_execute_path")
    assert statement["products"][0]["@id"] == f"{REPO}/web@{web}"


def test_keyboard_only_and_a_phone(browser_site: Site) -> None:
    site = browser_site
    with chromium(PHONE) as d:
        sign_in(d, site, site.tokens["admin"])
        # the first Tab reaches the skip link; following it moves focus to the content
        d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        active = d.switch_to.active_element
        assert active.text == "Skip to content"
        active.send_keys(Keys.ENTER)
        assert d.switch_to.active_element.get_attribute("id") == "main"
        # nothing wider than the phone's screen but the tables' own scrolling regions
        wide = d.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1")
        assert wide is False
        screenshot(d, "phone-fleet")
        d.get(f"{site.url}/images/{site.digests['web']}")
        assert d.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1") is False
        screenshot(d, "phone-image")
        d.get(f"{site.url}/settings")
        assert "API tokens" in text(d)
        screenshot(d, "settings")
        assert console_errors(d) == []
