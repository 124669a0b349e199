"""The home page: generated from the registry, the same bytes for every request, and a snippet
generator that works in a real headless Chromium against a real daemon."""

import base64
import json
import os
import shutil
import tempfile
import time
from html.parser import HTMLParser
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

from fakepypi import FakeUpstream
from processes import ROOT
from pypipin.web import home
from pypipin.badges.kinds import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.badges.rules import PERIODS
from pypipin.badges.rules import FRAMEWORKS
from pypipin.badges.formats import FORMATS
from pypipin.badges.parsing import NAMED_COLORS, STYLES, parse
from util import CLASSIFIERS, get

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTEFACTS = ROOT / "tests" / "artefacts"
HOSTILE = '"><script>window.pwned=1</script><img src=x onerror="window.pwned=2">&amp;'


class Outline(HTMLParser):
    """What the tests read from the page: cards and their code, selects, datalists, scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.cards: dict[str, list[str]] = {}  # data-kind -> texts of its <code> elements
        self.options: dict[str, list[str]] = {}  # select or datalist id -> option values
        self.scripts: dict[str, str] = {}  # script id -> its text
        self.links: list[str] = []  # src and href of scripts and stylesheets
        self.codes: list[str] = []
        self._card: str | None = None
        self._list: str | None = None
        self._script: str | None = None
        self._code: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.ids.append(found["id"])
        if tag == "article" and "data-kind" in found:
            self._card = found["data-kind"]
            self.cards[self._card] = []
        elif tag in ("select", "datalist"):
            self._list = found["id"]
            self.options[self._list] = []
        elif tag == "option" and self._list is not None:
            self.options[self._list].append(found.get("value", ""))
        elif tag == "code":
            self._code = []
        elif tag == "script":
            self._script = found.get("id", "")
            self.scripts[self._script] = ""
            if "src" in found:
                self.links.append(found["src"])
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.links.append(found["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None
        elif tag in ("select", "datalist"):
            self._list = None
        elif tag == "script":
            self._script = None
        elif tag == "code" and self._code is not None:
            text = "".join(self._code)
            self.codes.append(text)
            if self._card is not None:
                self.cards[self._card].append(text)
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data
        if self._code is not None:
            self._code.append(data)
        if self._list is not None and self.options[self._list] and self.options[self._list][-1] == "":
            self.options[self._list][-1] = data.strip()


PAGE = home.page().decode()
OUTLINE = Outline(PAGE)


def test_every_kind_has_a_title_and_a_one_line_description() -> None:
    for kind in KINDS.values():
        assert kind.title and kind.description and "\n" not in kind.description, kind.name


def test_a_card_per_kind_listing_every_url_name() -> None:
    assert list(OUTLINE.cards) == list(KINDS)
    for table in (ORIGINAL_NAMES, SHIELDS_NAMES):
        for name, (kind, _) in table.items():
            assert any(code == name or code.startswith(name + "/") for code in OUTLINE.cards[kind]), (kind, name)
    assert "<code>frameworkversions/&lt;framework&gt;</code>" in PAGE


def test_every_style_format_colour_and_period_is_offered_and_documented() -> None:
    assert OUTLINE.options["style"] == list(STYLES)
    assert OUTLINE.options["format"] == [fmt for fmt in FORMATS if fmt != "json"]
    assert OUTLINE.options["period"] == list(PERIODS)
    assert OUTLINE.options["framework"] == list(FRAMEWORKS)
    assert OUTLINE.options["index"] == ["pypi"]
    assert Outline(home.page(["pypi", "corp"]).decode()).options["index"] == ["pypi", "corp"]
    assert OUTLINE.options["colors"] == sorted(NAMED_COLORS)
    for value in [*FORMATS, *STYLES, *NAMED_COLORS, *PERIODS]:
        assert value in OUTLINE.codes, value


def test_registry_blob_parses_and_matches_the_registry() -> None:
    raw = OUTLINE.scripts["registry"]
    assert not set(raw) & set("<>&")
    blob = json.loads(raw)
    assert blob == home.registry()
    assert [kind["name"] for kind in blob["kinds"]] == list(KINDS)
    assert [kind["label"] for kind in blob["kinds"]] == [kind.label for kind in KINDS.values()]
    assert blob["original"] == {name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in ORIGINAL_NAMES.items()}
    assert blob["shields"] == {name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in SHIELDS_NAMES.items()}
    assert blob["styles"] == list(STYLES) and blob["colors"] == sorted(NAMED_COLORS)
    assert set(blob["formats"]) == set(FORMATS) - {"json"} and set(blob["rasters"]) < set(blob["formats"])
    options = {kind["name"]: kind["options"] for kind in blob["kinds"]}
    assert options["downloads"] == ["period"] and options["framework_versions"] == ["framework"]
    assert options["version"] == ["include_prereleases"]


def test_script_json_cannot_end_its_script() -> None:
    value = {"a": "</script><!-- <script>&amp;", "b": ["\u2028", ">"]}
    text = home.script_json(value)
    assert not set(text) & set("<>&")
    assert json.loads(text) == value


# one path and value per documented parameter; each must change what the server parses
EXAMPLES = {
    "style": (b"/v/demo/badge.svg", "social"),
    "label": (b"/v/demo/badge.svg", "release"),
    "text": (b"/v/demo/badge.svg", "release"),
    "color": (b"/v/demo/badge.svg", "orange"),
    "colorB": (b"/v/demo/badge.svg", "4c1"),
    "labelColor": (b"/v/demo/badge.svg", "blue"),
    "colorA": (b"/v/demo/badge.svg", "#123"),
    "period": (b"/d/demo/badge.svg", "week"),
    "include_prereleases": (b"/v/demo/badge.svg", ""),
    "scale": (b"/v/demo/badge.png", "2"),
    "cacheSeconds": (b"/v/demo/badge.svg", "86400"),
}


def test_every_documented_parameter_is_honoured_by_the_server() -> None:
    documented = [name for parameter in home.parameters() for name in parameter.names]
    assert sorted(documented) == sorted(EXAMPLES)
    for name, (path, value) in EXAMPLES.items():
        assert parse(path, {name: value}) != parse(path, {}), name
        assert f"<code>{name}</code>" in PAGE


@pytest.fixture
def daemon(upstream: FakeUpstream, start_daemon: Any) -> Any:
    upstream.add("demo", version="2.0.0", classifiers=CLASSIFIERS + ["Typing :: Typed", "Framework :: Django :: 4.2"],
                 day=7, week=70, month=700)
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
        assert types[os.path.splitext(link.partition("?")[0])[1]] in response.headers.getRawHeaders(b"content-type")[0]


# Browser -------------------------------------------------------------------------------------

ALL_LOADED = """
const images = [...document.querySelectorAll('#badges .preview img')];
return images.length === arguments[0] && !document.querySelector('#badges .loading')
  && images.every((img) => img.getAttribute('src') && img.complete && img.naturalWidth > 0);
"""


def chromium(profile: str) -> webdriver.Chrome:
    """Headless Chromium from Debian, driven by Debian's chromedriver: Selenium downloads nothing."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                     f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def wait_for_badges(driver: webdriver.Chrome) -> None:
    WebDriverWait(driver, 30, poll_frequency=0.1).until(lambda d: d.execute_script(ALL_LOADED, len(KINDS)))


def code(driver: webdriver.Chrome, selector: str) -> str:
    return driver.execute_script("return document.querySelector(arguments[0]).textContent", selector)


def screenshot(driver: webdriver.Chrome, name: str, width: int, mobile: bool = False) -> None:
    """The whole page at one width (a phone's when mobile), as a PNG in tests/artefacts."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile})
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    })
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
        assert code(driver, "#kind-downloads .snippet code") == f"[![Downloads]({url}/d/demo/badge.svg)]{target}"
        assert code(driver, "#kind-framework_versions .snippet code") == (
            f"[![django versions]({url}/djversions/demo/badge.svg)]{target}")
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
            f"[![Version]({url}/pypi/v/demo?style=for-the-badge)]{target}")
        assert code(driver, "#kind-downloads .snippet code") == (
            f"[![Downloads]({url}/pypi/dw/demo?style=for-the-badge)]{target}")
        assert code(driver, "#kind-egg .snippet code") == (  # no shields name: the pypip.in form
            f"[![Egg]({url}/egg/demo/badge.svg?style=for-the-badge)]{target}")
        assert driver.current_url == url + "/?package=demo&urls=shields&style=for-the-badge&period=week"
        Select(driver.find_element(By.ID, "framework")).select_by_visible_text("django-cms")
        Select(driver.find_element(By.ID, "format")).select_by_visible_text("png")
        wait_for_badges(driver)
        driver.find_element(By.CSS_SELECTOR, "label:has(> input[name=syntax][value=rst])").click()
        assert code(driver, "#kind-framework_versions .snippet code") == (
            f".. image:: {url}/pypi/frameworkversions/django-cms/demo.png?style=for-the-badge\n"
            f"   :target: https://pypi.org/project/demo/\n   :alt: django cms versions")
        Select(driver.find_element(By.ID, "index")).select_by_visible_text("corp")
        wait_for_badges(driver)
        assert code(driver, "#kind-version .snippet code").startswith(
            f".. image:: {url}/pypi/v/demo.png?index=corp&style=for-the-badge\n"
            f"   :target: {url}/?package=demo&index=corp\n")
        Select(driver.find_element(By.ID, "index")).select_by_visible_text("pypi")

        copy = driver.find_element(By.CSS_SELECTOR, "#kind-version .copy")
        copy.click()
        WebDriverWait(driver, 5).until(lambda d: copy.text in ("Copied", "Selected"))
        if copy.text == "Selected":
            assert driver.execute_script("return String(getSelection())") == code(driver, "#kind-version .snippet code")

        # a shared link shows the badges on load, with its options
        driver.get(url + "/?package=demo&urls=shields&syntax=html")
        wait_for_badges(driver)
        assert driver.find_element(By.ID, "package").get_attribute("value") == "demo"
        assert code(driver, "#kind-version .snippet code") == (
            f'<a href="https://pypi.org/project/demo/"><img src="{url}/pypi/v/demo" alt="Version"></a>')

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
