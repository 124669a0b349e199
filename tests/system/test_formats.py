"""Formats, styles, the JSON endpoint, shields.io URLs and overrides, through a real daemon."""

import base64
import io
import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import pytest_twisted
from PIL import Image
from twisted.internet import defer

from tests.support.fakepypi import FakeUpstream, release_file
from tests.support.loopback import get, svg_text
from tests.support.stack import CLASSIFIERS

pytestmark = pytest.mark.processes

RASTERS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP", "tiff": "TIFF"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def daemon(upstream: FakeUpstream, start_daemon):
    upstream.add(
        "demo",
        version="2.0.0",
        classifiers=CLASSIFIERS
        + ["Typing :: Typed", "Framework :: Django :: 4.2", "Framework :: Wagtail :: 6"],
        releases={"3.0.0b1": [release_file("demo", "3.0.0b1", "sdist")]},
        day=7,
        week=70,
        month=700,
    )
    return pytest_twisted.blockon(defer.ensureDeferred(start_daemon().ready()))


async def get_json(url: str) -> dict:
    _, body = await get(url)
    return json.loads(body)


def light_pixels(image: Image.Image) -> int:
    """Pixels of the (white) badge text: near-white in RGB."""
    data = image.convert("RGB").tobytes()
    return sum(1 for pixel in zip(data[0::3], data[1::3], data[2::3], strict=True) if min(pixel) > 200)


@pytest_twisted.ensureDeferred
async def test_every_raster_format_decodes_shows_text_and_scales(daemon) -> None:
    for ext, kind in RASTERS.items():
        sizes = []
        for scale in (1, 2):
            response, body = await get(f"{daemon.url}/wheel/demo/badge.{ext}?scale={scale}")
            assert response.code == 200
            expected_type = "image/" + {"jpg": "jpeg"}.get(ext, ext)
            assert response.headers.getRawHeaders(b"content-type") == [expected_type.encode()]
            image = Image.open(io.BytesIO(body))
            assert image.format == kind
            assert light_pixels(image) > 20 * scale, (ext, scale)  # the text was drawn
            sizes.append(image.size)
        (w1, h1), (w2, h2) = sizes
        assert abs(w2 - 2 * w1) <= 1 and abs(h2 - 2 * h1) <= 1, (ext, sizes)


@pytest_twisted.ensureDeferred
async def test_five_styles_five_svgs(daemon) -> None:
    bodies = set()
    for style in ("flat", "flat-square", "plastic", "for-the-badge", "social"):
        _, body = await get(f"{daemon.url}/pypi/wheel/demo.svg?style={style}")
        bodies.add(body)
    assert len(bodies) == 5


@pytest_twisted.ensureDeferred
async def test_overrides_applied_and_escaped(daemon) -> None:
    hostile = "<script>alert(1)</script>&\"' onload=x"
    _, body = await get(
        f"{daemon.url}/wheel/demo/badge.svg?label={quote(hostile)}&color=ff8800&labelColor=%23123"
    )
    root = ET.fromstring(body)  # well-formed
    assert svg_text(body) == [hostile, "yes"]
    assert not list(root.iter(SVG + "script"))
    assert not any(name.startswith("on") for element in root.iter() for name in element.attrib)
    fills = {element.attrib.get("fill") for element in root.iter()}
    assert "#f80" in fills or "#ff8800" in fills
    assert "#123" in fills or "#112233" in fills

    shown = await get_json(f"{daemon.url}/wheel/demo/badge.json?colorB=orange&colorA=red&text=built")
    assert (shown["label"], shown["color"]) == ("built", "orange")
    assert (await get_json(f"{daemon.url}/wheel/demo/badge.json?color=not-a-colour&style=neon"))[
        "color"
    ] == "brightgreen"


@pytest_twisted.ensureDeferred
async def test_logo_data_url(daemon) -> None:
    logo_svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10" fill="red"/></svg>'
    )
    logo = "data:image/svg+xml;base64," + base64.b64encode(logo_svg).decode()
    _, body = await get(f"{daemon.url}/wheel/demo/badge.svg?logo={quote(logo)}")
    images = list(ET.fromstring(body).iter(SVG + "image"))
    assert len(images) == 1
    for bad in ("data:image/svg+xml;base64,not*base64", "javascript:alert(1)", "data:text/html;base64,PGI+"):
        _, body = await get(f"{daemon.url}/wheel/demo/badge.svg?logo={quote(bad)}")
        assert not list(ET.fromstring(body).iter(SVG + "image")), bad  # ignored
