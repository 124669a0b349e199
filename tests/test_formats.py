"""pypipin.badges.formats: the one table of formats, and the parts that read it (URLs, responses, home)."""

import json

import pytest

from pypipin.badges.formats import FORMATS, IMAGES, RASTERS
from pypipin.badges.parsing import parse
from pypipin.web import home
from tests.support.stack import Stack


def test_the_table() -> None:
    """What each extension is drawn as, served as and sent as; a change here is a change users see."""
    assert {ext: each.content_type for ext, each in FORMATS.items()} == {
        "svg": "image/svg+xml;charset=utf-8",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "tiff": "image/tiff",
        "json": "application/json",
    }
    assert {ext: each.name for ext, each in FORMATS.items() if each.name != ext} == {"jpg": "jpeg"}
    assert all(FORMATS[each.name].name == each.name for each in FORMATS.values())  # a synonym names a format
    assert {ext for ext, each in FORMATS.items() if each.gzipped} == {"svg", "json"}
    assert RASTERS == ("png", "jpg", "jpeg", "gif", "webp", "tiff")
    assert ("svg", *RASTERS) == IMAGES


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_a_url_reads_its_format_from_the_table(ext: str) -> None:
    wanted = parse(f"/v/twisted/badge.{ext}".encode(), {"scale": "3"})
    assert wanted is not None and wanted.format == FORMATS[ext].name
    assert wanted.scale == (3 if FORMATS[ext].scalable else 1)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_a_response_is_served_and_sent_as_the_table_says(ext: str) -> None:
    stack = Stack()
    stack.upstream.add("demo")
    answer = stack.get(f"/v/demo/badge.{ext}?label={'x' * 150}")
    assert answer.code == 200 and answer.header("Content-Type") == FORMATS[ext].content_type
    # a gzipped copy is made (of a body worth gzipping: the fake renderer draws text, and the label is
    # long) for the formats the table says only; treq asks for it, and the ETag names it
    assert answer.header("Etag").endswith('-gz"') is FORMATS[ext].gzipped
    assert (answer.header("Vary") == "Accept-Encoding") is FORMATS[ext].gzipped


def test_the_home_page_lists_the_table() -> None:
    registry = home.registry()
    assert registry["formats"] == list(IMAGES) and registry["rasters"] == list(RASTERS)
    page = home.page().decode()
    for ext, each in FORMATS.items():
        row = f"<code>{ext}</code></th><td data-label='Content type'><code>{each.content_type}</code>"
        assert row in page
    blob = page.split('<script type="application/json" id=registry>')[1].split("</script>")[0]
    assert json.loads(blob)["rasters"] == list(RASTERS)
