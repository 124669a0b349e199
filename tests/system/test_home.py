"""The home page against a real daemon: static whatever the query, and its snippet generator in a real
headless Chromium."""

import base64
import os
import shutil
import tempfile
import time
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from twisted.internet import defer
from twisted.internet.threads import deferToThread

from pypipin.badges.kinds import KINDS
from pypipin.web import home
from tests.support.fakepypi import FakeUpstream
from tests.support.homepage import OUTLINE
from tests.support.loopback import get
from tests.support.processes import ROOT
from tests.support.stack import CLASSIFIERS

CHROMIUM = "/usr/bin/chromium"


CHROMEDRIVER = "/usr/bin/chromedriver"


ARTEFACTS = ROOT / "tests" / "artefacts"


HOSTILE = '"><script>window.pwned=1</script><img src=x onerror="window.pwned=2">&amp;'


@pytest.fixture
def daemon(upstream: FakeUpstream, start_daemon: Any) -> Any:
    upstream.add(
        "demo",
        version="2.0.0",
        classifiers=CLASSIFIERS + ["Typing :: Typed", "Framework :: Django :: 4.2"],
        day=7,
        week=70,
        month=700,
    )
    started = start_daemon("none", "--index", f"corp={upstream.url}/pypi")  # a second index, for the picker
    return pytest_twisted.blockon(defer.ensureDeferred(started.ready()))


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_the_page_is_static_and_never_reflects_the_query(daemon: Any) -> None:
    response, plain = await get(daemon.url + "/")
    assert response.code == 200
    assert response.headers.getRawHeaders(b"content-type") == [b"text/html; charset=utf-8"]
    assert plain == home.page(["pypi", "corp"])
    _, hostile = await get(daemon.url + "/?package=" + quote(HOSTILE) + "&style=" + quote(HOSTILE))
    assert hostile == plain
    assert b"pwned" not in plain
    types = {".css": b"text/css", ".js": b"javascript"}
    for link in OUTLINE.links:
        response, body = await get(daemon.url + link)
        assert response.code == 200 and body, link
        assert (
            types[os.path.splitext(link.partition("?")[0])[1]]
            in response.headers.getRawHeaders(b"content-type")[0]
        )


ALL_LOADED = """
const images = [...document.querySelectorAll('#badges .preview img')];
return images.length === arguments[0] && !document.querySelector('#badges .loading')
  && images.every((img) => img.getAttribute('src') && img.complete && img.naturalWidth > 0);
"""


def chromium(profile: str) -> webdriver.Chrome:
    """Headless Chromium from Debian, driven by Debian's chromedriver: Selenium downloads nothing."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_for_badges(driver: webdriver.Chrome) -> None:
    WebDriverWait(driver, 30, poll_frequency=0.1).until(lambda d: d.execute_script(ALL_LOADED, len(KINDS)))


def screenshot(driver: webdriver.Chrome, name: str, width: int, mobile: bool = False) -> None:
    """The whole page at one width (a phone's when mobile), as a PNG in tests/artefacts."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile},
    )
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    ARTEFACTS.mkdir(exist_ok=True)
    (ARTEFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def browse(url: str) -> None:
    """The user's way through the page, in a real browser (blocking: run in a thread)."""
    profile = tempfile.mkdtemp(prefix="pypipin-chromium-")
    driver = chromium(profile)
    target = "(https://pypi.org/project/demo/)"
    try:
        driver.get(url + "/")
        assert not driver.find_element(By.CSS_SELECTOR, "#kind-version .live").is_displayed()
        driver.find_element(By.ID, "package").send_keys("demo", Keys.ENTER)
        wait_for_badges(driver)
        assert code(driver, "#kind-version .snippet code") == f"[![Version]({url}/v/demo/badge.svg)]{target}"
        assert (
            code(driver, "#kind-downloads .snippet code") == f"[![Downloads]({url}/d/demo/badge.svg)]{target}"
        )
        assert code(driver, "#kind-framework_versions .snippet code") == (
            f"[![django versions]({url}/djversions/demo/badge.svg)]{target}"
        )
        assert len(code(driver, "#block code").splitlines()) == len(KINDS)
        assert driver.current_url == url + "/?package=demo"
        assert driver.find_element(By.ID, "status").text.startswith(f"{len(KINDS)} badges for demo.")
        screenshot(driver, "home.png", 1280)
        screenshot(driver, "home-narrow.png", 390, mobile=True)

        # options change every badge live, and the address to share follows
        driver.find_element(By.CSS_SELECTOR, "input[name=urls][value=shields]").click()
        Select(driver.find_element(By.ID, "style")).select_by_visible_text("for-the-badge")
        Select(driver.find_element(By.ID, "period")).select_by_visible_text("week")
        wait_for_badges(driver)
        assert code(driver, "#kind-version .snippet code") == (
            f"[![Version]({url}/pypi/v/demo?style=for-the-badge)]{target}"
        )
        assert code(driver, "#kind-downloads .snippet code") == (
            f"[![Downloads]({url}/pypi/dw/demo?style=for-the-badge)]{target}"
        )
        assert code(driver, "#kind-egg .snippet code") == (  # no shields name: the pypip.in form
            f"[![Egg]({url}/egg/demo/badge.svg?style=for-the-badge)]{target}"
        )
        assert driver.current_url == url + "/?package=demo&urls=shields&style=for-the-badge&period=week"
        Select(driver.find_element(By.ID, "framework")).select_by_visible_text("django-cms")
        Select(driver.find_element(By.ID, "format")).select_by_visible_text("png")
        wait_for_badges(driver)
        driver.find_element(By.CSS_SELECTOR, "label:has(> input[name=syntax][value=rst])").click()
        assert code(driver, "#kind-framework_versions .snippet code") == (
            f".. image:: {url}/pypi/frameworkversions/django-cms/demo.png?style=for-the-badge\n"
            f"   :target: https://pypi.org/project/demo/\n   :alt: django cms versions"
        )
        Select(driver.find_element(By.ID, "index")).select_by_visible_text("corp")
        wait_for_badges(driver)
        assert code(driver, "#kind-version .snippet code").startswith(
            f".. image:: {url}/pypi/v/demo.png?index=corp&style=for-the-badge\n"
            f"   :target: {url}/?package=demo&index=corp\n"
        )
        Select(driver.find_element(By.ID, "index")).select_by_visible_text("pypi")

        copy = driver.find_element(By.CSS_SELECTOR, "#kind-version .copy")
        copy.click()
        WebDriverWait(driver, 5).until(lambda d: copy.text in ("Copied", "Selected"))
        if copy.text == "Selected":
            assert driver.execute_script("return String(getSelection())") == code(
                driver, "#kind-version .snippet code"
            )

        # a shared link shows the badges on load, with its options
        driver.get(url + "/?package=demo&urls=shields&syntax=html")
        wait_for_badges(driver)
        assert driver.find_element(By.ID, "package").get_attribute("value") == "demo"
        assert code(driver, "#kind-version .snippet code") == (
            f'<a href="https://pypi.org/project/demo/"><img src="{url}/pypi/v/demo" alt="Version"></a>'
        )

        # a hostile link is only ever text
        driver.get(url + "/?package=" + quote(HOSTILE) + "&label=" + quote(HOSTILE))
        time.sleep(0.3)
        assert driver.execute_script("return window.pwned") is None
        assert not driver.find_elements(By.CSS_SELECTOR, "img[src=x], #badges .preview img[src]")
        assert driver.find_element(By.ID, "package").get_attribute("value") == HOSTILE[:200]
        assert driver.find_element(By.ID, "package-error").is_displayed()

        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_snippets_in_a_real_browser(daemon: Any) -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is missing: install Debian's chromium and chromium-driver (.ci/run does)")
    await deferToThread(browse, daemon.url)


def code(driver: webdriver.Chrome, selector: str) -> str:
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", selector)
