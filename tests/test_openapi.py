"""The OpenAPI document: generated from the registry of kinds, every URL name of both forms an
operation whose paths parse to its badge, a valid OpenAPI 3.1 document, served as made."""

import gzip
import json
import re
from typing import Any

import schemathesis

from pypipin.badges.formats import FORMATS
from pypipin.badges.kinds import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.badges.parsing import PARAMETERS, parse
from pypipin.web import openapi
from tests.support.stack import Stack

DOCUMENT = openapi.document()
PATHS = DOCUMENT["paths"]


def _filled(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda found: values[found.group(1)], path)


def _parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The operation's parameters, each ``$ref`` resolved."""
    found = []
    for parameter in operation["parameters"]:
        if "$ref" in parameter:
            parameter = DOCUMENT["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found.append(parameter)
    return found


def test_every_url_name_of_both_forms_is_one_operation() -> None:
    ids = [each["get"]["operationId"] for each in PATHS.values()]
    assert sorted(ids) == sorted(
        [f"original-{name}" for name in ORIGINAL_NAMES] + [f"shields-{name}" for name in SHIELDS_NAMES]
    )
    assert {tag["name"] for tag in DOCUMENT["tags"]} == set(KINDS)


def test_every_path_filled_in_parses_to_its_badge_and_options() -> None:
    """The document and the parser agree: each path, with each documented value, is that badge."""
    for path, item in PATHS.items():
        operation = item["get"]
        form, name = operation["operationId"].split("-", 1)
        kind, fixed = (ORIGINAL_NAMES if form == "original" else SHIELDS_NAMES)[name]
        segments = {p["name"]: p for p in _parameters(operation) if p["in"] == "path"}
        formats = segments["format"]["schema"]["enum"] if "format" in segments else ["svg"]
        assert formats == (list(FORMATS) if form == "original" else ["svg"]), path
        choices = segments.get("framework", {}).get("schema", {}).get("enum", [None])
        for ext in formats:
            for framework in choices:
                url = _filled(path, {"package": "Demo.Pkg", "format": ext, "framework": str(framework)})
                wanted = parse(url.encode(), {})
                assert wanted is not None and wanted.kind.name == kind, url
                expected = {**fixed, **({"framework": framework} if framework else {})}
                assert dict(wanted.options) == expected and wanted.format == FORMATS[ext].name, url
        query = [p["name"] for p in _parameters(operation) if p["in"] == "query"]
        assert query == [*PARAMETERS, *(option for option in KINDS[kind].query if option not in fixed)], path


def test_the_answers_are_the_formats_and_the_plain_refusals() -> None:
    answers = DOCUMENT["components"]["responses"]
    assert sorted(answers) == ["200", "304", "400", "404", "414", "503"]
    media = {each.content_type.split(";")[0] for each in FORMATS.values()}
    assert set(answers["200"]["content"]) == media
    assert answers["200"]["content"]["application/json"]["schema"]["required"] == [
        "schemaVersion",
        "label",
        "message",
        "color",
        "isError",
    ]


def test_schemathesis_loads_it_and_finds_every_operation() -> None:
    loaded = schemathesis.openapi.from_dict(json.loads(openapi.body()))
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert sorted(operation.path for operation in operations) == sorted(PATHS)
    assert DOCUMENT["openapi"] == "3.1.0"


def test_served_as_made_and_linked_from_the_home_page(stack: Stack) -> None:
    answer = stack.get("/openapi.json")
    assert answer.code == 200 and answer.header("content-type") == "application/json"
    body = gzip.decompress(answer.body) if answer.header("content-encoding") == "gzip" else answer.body
    assert body == openapi.body() and json.loads(body) == DOCUMENT
    assert answer.header("access-control-allow-origin") == "*"
    assert b'<a href="/openapi.json">' in stack.get("/").body


def test_a_path_no_route_takes_is_the_plain_404(stack: Stack) -> None:
    for path in ("/v/a%0Ab/badge.svg", "/pypi/v/a%0Ab", "/no/such/badge.svg"):
        answer = stack.get(path)
        assert answer.code == 404 and answer.header("content-type") == "text/plain; charset=utf-8", path
        assert answer.body.startswith(b"Not a badge URL"), path
