"""Typed decoding of upstream documents: what a summary keeps, its bounds, and hostile documents."""

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version

from pypipin.badges import kinds
from pypipin.upstream import summary
from tests.support.fakepypi import BIG, big_document, many_releases, pypi_document, release_file


def summarise(document: dict[str, Any]) -> dict[str, Any]:
    return summary.from_pypi(json.dumps(document).encode())


def wheels(*tags: str) -> list[dict[str, Any]]:
    return [release_file("demo", "1.0", "bdist_wheel", tags=tag) for tag in tags]


def test_vulnerabilities_counts_entries_not_withdrawn() -> None:
    document = pypi_document("demo")
    document["vulnerabilities"] = [
        {"id": "PYSEC-1", "aliases": ["CVE-1"], "details": "x", "fixed_in": ["2.0"], "withdrawn": None},
        {"id": "PYSEC-2", "details": "y"},
        {"id": "PYSEC-3", "withdrawn": "2024-01-02T03:04:05Z"},
    ]
    assert summarise(document)["vulnerabilities"] == 2
    document["vulnerabilities"] = []
    assert summarise(document)["vulnerabilities"] == 0
    del document["vulnerabilities"]  # a private index: not known
    assert summarise(document)["vulnerabilities"] is None


def test_wheel_tags_of_the_latest_release_sorted_and_distinct() -> None:
    document = pypi_document("demo", version="1.0")
    document["urls"] = wheels(
        "cp313-cp313t-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp313-cp313-win_amd64",
        "cp312-cp312-macosx_11_0_arm64",
        "py2.py3-none-any",
    ) + [release_file("demo", "1.0", "sdist"), {"filename": "demo-1.0.whl", "packagetype": "bdist_wheel"}]
    found = summarise(document)
    assert found["abi_tags"] == ["cp312", "cp313", "cp313t", "none"]
    assert found["platform_tags"] == [
        "any",
        "macosx_11_0_arm64",
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
        "win_amd64",
    ]


def test_no_wheels_no_tags() -> None:
    found = summarise(pypi_document("demo", packagetypes=("sdist",)))
    assert found["abi_tags"] == [] and found["platform_tags"] == []


def test_fields_are_bounded() -> None:
    document = pypi_document(
        "demo",
        classifiers=[f"Framework :: Django :: {n}" for n in range(5000)]
        + ["Topic :: Internet", "Programming Language :: Python :: 3.12" + "x" * 500],
        license="MIT" + " " * 100 + "x" * 15_000_000,
        license_expression="MIT OR " * 100,
        requires_python=">=3.9," * 100,
    )
    document["urls"] = wheels(*(f"cp3{n}-cp3{n}-plat{n}" for n in range(200)))
    found = summarise(document)
    assert len(found["classifiers"]) == summary.MAX_CLASSIFIERS
    assert all(c.startswith("Framework :: Django :: ") for c in found["classifiers"])  # others are never read
    assert found["license"] == ("MIT" + " " * 100)[: summary.LICENSE_CHARS]
    assert found["license_expression"] == "" and found["requires_python"] == ""
    assert len(found["abi_tags"]) == len(found["platform_tags"]) == summary.MAX_TAGS
    assert len(json.dumps(found)) < 20_000


def test_a_long_license_is_cut_but_still_never_shown() -> None:
    found = summarise(pypi_document("demo", license="A very long license text, " * 1000))
    assert len(found["license"]) == summary.LICENSE_CHARS
    assert kinds.KINDS["license"].rule(found, {}).message == "missing"  # no classifier either
    assert (
        kinds.KINDS["license"].rule(summarise(pypi_document("demo", license="  MIT  ")), {}).message == "MIT"
    )


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"<html>\x00\xff not json",
        b"[]",
        b"{}",
        b'{"info": null}',
        b'{"info": {"version": 3}}',
        b'{"info": {"version": ""}}',
        b'{"info": {"version": "1", "classifiers": [1]}}',
        b'{"info": {"version": "1"}, "urls": {}}',
        b'{"info": {"version": "' + b"1" * 500 + b'"}}',
    ],
)
def test_garbled_documents_are_refused(bad: bytes) -> None:
    with pytest.raises(summary.Garbled):
        summary.from_pypi(bad)


def test_misshapen_vulnerabilities_or_releases_are_dropped_not_the_document() -> None:
    for vulnerabilities, releases in (({}, []), ([7], {"2": 3}), ("x", None)):
        body = json.dumps(
            {"info": {"version": "1"}, "vulnerabilities": vulnerabilities, "releases": releases}
        )
        found = summary.from_pypi(body.encode())
        assert found["vulnerabilities"] is None and found["newest"] == "1"


def naive_newest(releases: dict[str, list[dict[str, Any]]]) -> str:
    """The rule, written plainly: the highest valid version with a non-yanked file."""
    found = []
    for name, files in releases.items():
        try:
            version = Version(name)
        except InvalidVersion:
            continue
        if any(not f.get("yanked") for f in files):
            found.append((version, name))
    return max(found)[1] if found else ""


version_names = st.one_of(
    st.from_regex(r"\A(\d!)?\d{1,2}(\.\d{1,2}){0,3}((a|b|rc)\d)?(\.post\d)?(\.dev\d)?(\+local)?\Z"),
    st.sampled_from(
        ["v1.0", "1.0-foo", "latest", "", "1.0.0", "1.0", "01.0", " 2.0 ", "1!0.1", "2.0RC1", "1.0_post2"]
    ),
)


@given(st.dictionaries(version_names, st.lists(st.booleans(), max_size=3), max_size=30))
def test_newest_release_agrees_with_the_plain_rule(releases: dict[str, list[bool]]) -> None:
    files = {name: [{"yanked": yanked} for yanked in flags] for name, flags in releases.items()}
    found = summary._newest_release(
        summary.decode_pypi(json.dumps({"info": {"version": "9"}, "releases": files}).encode()).releases
    )
    expected = naive_newest(files)
    assert (Version(found) if found else None) == (Version(expected) if expected else None)


@pytest.mark.parametrize("name", sorted(BIG))
def test_big_real_shaped_documents(name: str) -> None:
    document = big_document(name)
    found = summarise(document)
    assert found["version"] == document["info"]["version"]
    assert found["newest"] == naive_newest(document["releases"])
    assert found["packagetypes"] == ["bdist_wheel", "sdist"]


def test_three_hundred_thousand_releases_cost_little() -> None:
    body = json.dumps(many_releases("huge")).encode()
    started = time.thread_time()
    found = summary.from_pypi(body)
    # CPU time, not wall time: the machine may be busy; `scripts/bench tail` has the real figures
    assert time.thread_time() - started < 0.5
    assert found["version"] == found["newest"] == "1.2.3"  # too many releases to rank: the latest one


@pytest.mark.parametrize(
    "part, body",
    [
        ("classifiers", b'{"info": {"version": "1", "classifiers": [' + b'"a",' * 1_000_000 + b'"a"]}}'),
        ("urls", b'{"info": {"version": "1"}, "urls": [' + b"{}," * 1_000_000 + b"{}]}"),
    ],
)
def test_hostile_parts_are_refused_before_they_are_decoded(part: str, body: bytes) -> None:
    started = time.thread_time()
    with pytest.raises(summary.Garbled, match=part):
        summary.from_pypi(body)
    assert time.thread_time() - started < 0.2


def test_a_million_vulnerabilities_are_unknown_not_decoded() -> None:
    body = b'{"info": {"version": "1"}, "vulnerabilities": [' + b"{}," * 1_000_000 + b"{}]}"
    started = time.thread_time()
    assert summary.from_pypi(body)["vulnerabilities"] is None
    assert time.thread_time() - started < 0.2


def test_a_release_with_a_million_files_is_not_ranked() -> None:
    body = b'{"info": {"version": "1"}, "releases": {"2": [' + b"{}," * 1_000_000 + b"{}]}}"
    started = time.thread_time()
    assert summary.from_pypi(body)["newest"] == "1"
    assert time.thread_time() - started < 0.2
