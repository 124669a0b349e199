"""Every rule of BADGES.md, on summaries reduced from PyPI-shaped documents."""

import json
from typing import Any

import pytest

from pypipin.badges import kinds, rules
from pypipin.upstream import summary
from tests.support import documents
from tests.support.fakepypi import pypi_document, release_file, stats_document


def summarise(**document: Any) -> dict[str, Any]:
    return reduce(pypi_document("demo", **document))


def reduce(document: dict[str, Any]) -> dict[str, Any]:
    return summary.from_pypi(json.dumps(document).encode())


def stats(day: int, week: int, month: int) -> dict[str, int]:
    return summary.from_stats(json.dumps(stats_document("demo", day, week, month)).encode())


def verdict(kind: str, options: dict[str, str] | None = None, **document: Any) -> tuple[str, str]:
    return tuple(kinds.KINDS[kind].rule(summarise(**document), options or {}))


# BADGES.md's vectors: shields.io's metric(), JavaScript rounding on the binary float
@pytest.mark.parametrize(
    "count, text",
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1049, "1k"),
        (1050, "1.1k"),
        (1250, "1.3k"),
        (1950, "1.9k"),
        (9949, "9.9k"),
        (9950, "9.9k"),
        (9999, "10k"),
        (10500, "11k"),
        (99500, "100k"),
        (999499, "999k"),
        (999500, "1M"),
        (1_950_000_000, "1.9G"),
        (1_000_000, "1M"),
        (2_300_000_000_000, "2.3T"),
        (45_000_000_000_000, "45T"),
        (-1, "0"),
        (-2500, "0"),
        (10**400, "999Y"),
    ],
)
def test_metric(count: int, text: str) -> None:
    assert rules.metric(count) == text


@pytest.mark.parametrize(
    "month, color", [(0, "red"), (9, "yellow"), (99, "yellowgreen"), (999, "green"), (1000, "brightgreen")]
)
def test_downloads_colour_by_count(month: int, color: str) -> None:
    counts = stats(1, 2, month)
    assert rules.downloads(counts, {}) == (f"{rules.metric(month)}/month", color)


def test_downloads_period_and_bad_period() -> None:
    counts = stats(5, 1500, 2_300_000)
    assert rules.downloads(counts, {"period": "day"}) == ("5/day", "yellow")
    assert rules.downloads(counts, {"period": "week"}) == ("1.5k/week", "brightgreen")
    assert rules.downloads(counts, {"period": "year"}) == ("2.3M/month", "brightgreen")


def test_negative_counts_never_shown() -> None:
    counts = stats(-1, -1, -1)
    assert rules.downloads(counts, {}) == ("0/month", "red")


@pytest.mark.parametrize(
    "bad",
    [
        {"data": {"last_day": "7", "last_week": 1, "last_month": 1}},
        {"data": []},
        [],
        None,
        {"data": {"last_day": True, "last_week": 1, "last_month": 1}},
    ],
)
def test_garbled_stats_refused(bad: Any) -> None:
    with pytest.raises(summary.Garbled):
        summary.from_stats(json.dumps(bad).encode())


# shields.io: renderVersionBadge (services/version.js) writes addv(version) (services/text-formatters.js)
# in pep440VersionColor (services/color-formatters.js)
@pytest.mark.parametrize(
    "version, message, color",
    [
        ("2.31.0", "v2.31.0", "blue"),
        ("0.9.1", "v0.9.1", "orange"),
        ("3.0.0rc1", "v3.0.0rc1", "orange"),
        ("1.0.dev3", "v1.0.dev3", "orange"),
        ("2013b", "v2013b", "orange"),
        ("0", "v0", "blue"),  # a public version "0" does not start with "0."
        ("1!0.5", "v1!0.5", "blue"),  # nor one with an epoch
        ("1.0-custom", "v1.0-custom", "lightgrey"),
        ("not a version", "not a version", "lightgrey"),  # addv: no "v" before a non-digit
        ("nightly-2013", "nightly-2013", "lightgrey"),
        ("v1.2", "v1.2", "blue"),  # one "v", not two
        ("2021-10-31", "2021-10-31", "lightgrey"),  # a date
        ("1.0.2021-10-31", "1.0.2021-10-31", "lightgrey"),  # a date anywhere
        ("abcdef1", "abcdef1", "lightgrey"),  # a commit hash
        ("20240101", "20240101", "blue"),  # seven to forty hex digits look like a hash
        ("123456", "v123456", "blue"),
        ("2024.1.1", "v2024.1.1", "blue"),
    ],
)
def test_version(version: str, message: str, color: str) -> None:
    assert verdict("version", version=version) == (message, color)


def test_version_include_prereleases_uses_pep440_order_and_skips_yanked() -> None:
    releases = {
        "2.0.0b1": [release_file("demo", "2.0.0b1", "sdist")],
        "10.0.0a1": [release_file("demo", "10.0.0a1", "sdist", yanked=True)],
        "2.0.0b2": [release_file("demo", "2.0.0b2", "bdist_wheel")],
        "3.0.0": [],  # a release with no files
        "bogus!": [release_file("demo", "bogus", "sdist")],
    }
    assert verdict("version", {"include_prereleases": ""}, version="1.9.0", releases=releases) == (
        "v2.0.0b2",
        "orange",
    )
    assert verdict("version", version="1.9.0", releases=releases) == ("v1.9.0", "blue")


PY = "Programming Language :: Python :: "


def test_py_versions_sorted_and_bare_major_dropped() -> None:
    classifiers = [
        PY + "3",
        PY + "3.10",
        PY + "3.9",
        PY + "2",
        PY + "3 :: Only",
        PY + "Free Threading :: 2 - Beta",
        PY + "Implementation :: CPython",
        "Programming Language :: Cython",
    ]
    assert verdict("py_versions", classifiers=classifiers) == ("2 | 3.9 | 3.10", "blue")


def test_py_versions_shields_details() -> None:
    """pypi-python-versions.service.js: "X :: Only" when no X.Y is listed; only 2 and 3 give way."""
    assert verdict("py_versions", classifiers=[PY + "3 :: Only"], requires_python=">=3.9") == ("3", "blue")
    assert verdict("py_versions", classifiers=[PY + "4", PY + "4.1", PY + "3.10", PY + "3.9.1"]) == (
        "3.9.1 | 3.10 | 4 | 4.1",
        "blue",
    )
    # JavaScript's \d is [0-9] and its $ the very end: no Arabic-Indic digits, no trailing newline
    classifiers = [PY + "\u0663.\u0669", PY + "3.9\n"]
    assert verdict("py_versions", classifiers=classifiers, requires_python=None) == ("missing", "red")


def test_py_versions_falls_back_to_requires_python() -> None:
    assert verdict(
        "py_versions", classifiers=[PY + "Implementation :: PyPy"], requires_python=" >= 3.9 , <4"
    ) == (
        ">=3.9, <4",
        "blue",
    )
    assert verdict("py_versions", requires_python=None) == ("missing", "red")
    assert verdict("py_versions", requires_python="banana") == ("missing", "red")


def test_implementation() -> None:
    classifiers = [PY + "Implementation :: PyPy", PY + "Implementation :: CPython", PY + "3.12"]
    assert verdict("implementation", classifiers=classifiers) == ("cpython | pypy", "blue")
    assert verdict("implementation") == ("cpython", "blue")
    # pypi-implementation.service.js reads one word: (\S+)$
    assert verdict("implementation", classifiers=[PY + "Implementation :: Iron Python"]) == (
        "cpython",
        "blue",
    )


@pytest.mark.parametrize(
    "classifiers, expected",
    [
        (["Development Status :: 5 - Production/Stable"], ("stable", "brightgreen")),
        (["Development Status :: 4 - Beta", "Development Status :: 3 - Alpha"], ("beta", "yellow")),
        (["Development Status :: 2 - Pre-Alpha"], ("pre-alpha", "red")),
        (["Development Status :: 1 - Planning"], ("planning", "red")),
        (["Development Status :: 6 - Mature"], ("mature", "brightgreen")),
        (["Development Status :: 7 - Inactive", "Development Status :: 6 - Mature"], ("inactive", "red")),
        (["Development Status :: 8 - Other"], ("other", "lightgrey")),
        (["Development Status :: 4 - Beta", "Development Status :: 4 - Alpha"], ("beta", "yellow")),
        (["Development Status :: 10 - Ten", "Development Status :: 3 - Alpha"], ("alpha", "red")),
        ([], ("unknown", "lightgrey")),  # pypipin's own: shields.io's message is empty
    ],
)
def test_status(classifiers: list[str], expected: tuple[str, str]) -> None:
    assert verdict("status", classifiers=classifiers) == expected


@pytest.mark.parametrize(
    "types, wheel, egg, fmt",
    [
        (("sdist", "bdist_wheel"), ("yes", "brightgreen"), ("no", "brightgreen"), ("wheel", "brightgreen")),
        (("sdist", "bdist_egg"), ("no", "red"), ("yes", "red"), ("egg", "red")),
        (("sdist",), ("no", "red"), ("no", "brightgreen"), ("source", "yellow")),
        ((), ("no", "red"), ("no", "brightgreen"), ("source", "yellow")),  # a release with no files
        (
            ("wheel",),
            ("yes", "brightgreen"),
            ("no", "brightgreen"),
            ("wheel", "brightgreen"),
        ),  # getPackageFormats
        (("egg",), ("no", "red"), ("yes", "red"), ("egg", "red")),
    ],
)
def test_wheel_egg_format(
    types: tuple[str, ...], wheel: tuple[str, str], egg: tuple[str, str], fmt: tuple[str, str]
) -> None:
    assert verdict("wheel", packagetypes=types) == wheel
    assert verdict("egg", packagetypes=types) == egg
    assert verdict("format", packagetypes=types) == fmt


MIT = "License :: OSI Approved :: MIT License"
GPL = "License :: OSI Approved :: GNU General Public License v3 (GPLv3)"
APACHE = "License :: OSI Approved :: Apache Software License"
BSD = "License :: OSI Approved :: BSD License"


# shields.io: getLicenses (services/pypi/pypi-helpers.js), renderLicenseBadge and licenseToColor
# (services/licenses.js)
@pytest.mark.parametrize(
    "document, message, color",
    [
        ({"license_expression": "MIT", "license": "whatever"}, "MIT", "green"),
        ({"license_expression": "MIT OR Apache-2.0"}, "MIT OR Apache-2.0", "lightgrey"),  # looked up whole
        ({"license": "BSD-3-Clause", "classifiers": [MIT]}, "BSD-3-Clause", "green"),
        ({"license": "GPL-3.0-or-later"}, "GPL-3.0-or-later", "orange"),
        ({"license": "GPLv3+"}, "GPLv3+", "orange"),
        ({"license": "Unlicense"}, "Unlicense", "#7cd958"),
        (
            {"license": "https://example.org/LICENSE", "classifiers": [MIT]},
            "https://example.org/LICENSE",
            "lightgrey",
        ),
        ({"license": "UNKNOWN", "classifiers": [GPL]}, "UNKNOWN", "lightgrey"),
        ({"license": "x" * 39}, "x" * 39, "lightgrey"),
        ({"license": "x" * 40, "classifiers": [GPL]}, "GPLV3", "lightgrey"),  # an acronym upper-cased
        ({"license": "é" * 39, "classifiers": [MIT]}, "é" * 39, "lightgrey"),
        ({"license": "😀" * 20, "classifiers": [MIT]}, "MIT", "green"),  # 40 UTF-16 code units
        (
            {
                "license": "Copyright (c) 2024\n\nPermission is hereby granted, free of charge...",
                "classifiers": [APACHE],
            },
            "Apache-2.0",
            "green",
        ),
        ({"classifiers": [BSD, MIT, "License :: OSI Approved"]}, "BSD, MIT, OSI Approved", "green"),
        (
            {"classifiers": [MIT, "License :: OSI Approved :: GNU General Public License (GPL)"]},
            "MIT, GPL",
            "green",
        ),
        ({"classifiers": ["License :: OSI Approved :: GNU General Public License (GPL)"]}, "GPL", "orange"),
        (
            {"classifiers": [GPL, "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication"]},
            "GPLV3, CC0-1.0",
            "#7cd958",
        ),
        (
            {"classifiers": ["License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)"]},
            "MPL 2.0",
            "orange",
        ),
        (
            {"classifiers": ["License :: OSI Approved :: GNU Affero General Public License v3"]},
            "AGPL-3.0",
            "orange",
        ),
        ({"classifiers": ["License :: OSI Approved :: Zero-Clause BSD (0BSD)"]}, "0BSD", "lightgrey"),
        ({"classifiers": ["License :: Other/Proprietary License"]}, "Other/Proprietary", "lightgrey"),
        ({"classifiers": ["License :: OSI Approved :: zlib/libpng License"]}, "zlib/libpng", "lightgrey"),
        ({"classifiers": ["License :: OSI Approved :: isc"]}, "ISC", "green"),  # a bare acronym upper-cased
        ({"classifiers": ["License :: DFSG approved", MIT]}, "MIT", "green"),
        ({"classifiers": ["License :: DFSG approved"]}, "DFSG approved", "lightgrey"),
        ({"license": None, "classifiers": [MIT, MIT]}, "MIT, MIT", "green"),
    ],
)
def test_license(document: dict[str, Any], message: str, color: str) -> None:
    assert verdict("license", **document) == (message, color)


def test_license_missing() -> None:
    assert verdict("license") == ("missing", "red")
    assert verdict("license", license="", license_expression="", classifiers=["Typing :: Typed"]) == (
        "missing",
        "red",
    )


def test_types() -> None:
    assert verdict("types", classifiers=["Typing :: Typed"]) == ("typed", "brightgreen")
    assert verdict("types", classifiers=["Typing :: Stubs Only"]) == ("stubs", "brightgreen")
    assert verdict("types") == ("untyped", "red")


FRAMEWORK_CLASSIFIERS = [
    "Framework :: Django",
    "Framework :: Django :: 5.0",
    "Framework :: Django :: 4.2",
    "Framework :: Django :: 10.0",
    "Framework :: Django CMS :: 4.1",
    "Framework :: Django CMS :: 3.11",
    "Framework :: Plone :: Addon",
    "Framework :: Jupyter",
    "Framework :: Jupyter :: JupyterLab",
    "Framework :: Jupyter :: JupyterLab :: 4",
    "Framework :: Jupyter :: JupyterLab :: 3",
    "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt",
    "Framework :: AWS CDK :: 2",
    "Framework :: Odoo :: 17.0",
    "Framework :: Wagtail :: 6",
    "Framework :: Zope :: 5",
    "Framework :: Flask",
    "Framework :: Flask :: 3.0",
]


@pytest.mark.parametrize(
    "framework, label, message",
    [
        ("django", "django versions", ("4.2 | 5.0 | 10.0", "blue")),
        ("django-cms", "django cms versions", ("3.11 | 4.1", "blue")),
        ("jupyterlab", "jupyterlab versions", ("3 | 4", "blue")),
        ("aws-cdk", "aws cdk versions", ("2", "blue")),
        ("odoo", "odoo versions", ("17.0", "blue")),
        ("wagtail", "wagtail versions", ("6", "blue")),
        ("zope", "zope versions", ("5", "blue")),
        ("plone", "versions", ("Plone versions are missing for Demo.Pkg", "lightgrey")),
        ("jupyterlab", "jupyterlab versions", ("3 | 4", "blue")),
    ],
)
def test_framework_versions(framework: str, label: str, message: tuple[str, str]) -> None:
    """pypi-framework-versions.service.js: none listed is its InvalidResponse, under the default label."""
    kind = kinds.KINDS["framework_versions"]
    options = {"framework": framework, "package": "Demo.Pkg"}
    reduced = summarise(classifiers=FRAMEWORK_CLASSIFIERS)
    assert tuple(kind.rule(reduced, options)) == message
    assert (kind.relabel(reduced, options) or kind.label_for(options)) == label


def test_framework_versions_sorted_as_shields_sorts() -> None:
    """sortPypiVersions: by the first two numbers; versions that tie keep the document's order."""
    classifiers = [
        "Framework :: Django :: 4.2.1",
        "Framework :: Django :: 1.11",
        "Framework :: Django :: 4.2",
    ]
    classifiers += ["Framework :: Django :: 3", "Framework :: Django :: .5"]
    assert verdict(
        "framework_versions", {"framework": "django", "package": "x"}, classifiers=classifiers
    ) == (
        ".5 | 1.11 | 3 | 4.2.1 | 4.2",
        "blue",
    )


def test_the_eight_frameworks_of_shields() -> None:
    assert sorted(rules.FRAMEWORKS) == [
        "aws-cdk",
        "django",
        "django-cms",
        "jupyterlab",
        "odoo",
        "plone",
        "wagtail",
        "zope",
    ]
    assert kinds.ORIGINAL_NAMES["djversions"] == ("framework_versions", {"framework": "django"})
    assert kinds.SHIELDS_NAMES["djversions"] == ("framework_versions", {"framework": "django"})


def test_summary_keeps_only_what_badges_need() -> None:
    reduced = summarise(classifiers=[MIT])
    assert set(reduced) == {
        "version",
        "newest",
        "classifiers",
        "requires_python",
        "license",
        "license_expression",
        "packagetypes",
        "vulnerabilities",
        "abi_tags",
        "platform_tags",
        "uploaded",
    }
    assert reduced["packagetypes"] == ["bdist_wheel", "sdist"]
    assert "description" not in str(reduced)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"info": None},
        {"info": {"version": 3}},
        {"info": {"version": ""}},
        {"info": {"version": "1", "classifiers": "MIT"}},
        {"info": {"version": "1"}, "urls": {}},
    ],
)
def test_garbled_pypi_refused(bad: Any) -> None:
    with pytest.raises(summary.Garbled):
        summary.from_pypi(json.dumps(bad).encode())


NEW_BADGES = ("vulnerabilities", "free_threading", "platforms")


@pytest.mark.parametrize(
    "document, expected",
    [
        (documents.pycrypto, [("2 known", "red"), ("no", "lightgrey"), ("source only", "lightgrey")]),
        (
            documents.numpy,
            [("none known", "brightgreen"), ("wheels", "blue"), ("linux | macos | windows", "blue")],
        ),
        (
            documents.free_threaded,
            [("none known", "brightgreen"), ("beta", "yellow"), ("linux | macos | windows", "blue")],
        ),
        (
            documents.mobile_and_browser,
            [
                ("none known", "brightgreen"),
                ("no", "lightgrey"),
                ("android | emscripten | freebsd | ios | linux | macos", "blue"),
            ],
        ),
        (documents.requests, [("none known", "brightgreen"), ("no", "lightgrey"), ("any", "blue")]),
        (documents.private_index, [("unknown", "lightgrey"), ("no", "lightgrey"), ("any", "blue")]),
    ],
)
def test_new_badges_on_documents_shaped_like_real_packages(
    document: Any, expected: list[tuple[str, str]]
) -> None:
    reduced = reduce(document())
    assert [tuple(kinds.KINDS[kind].rule(reduced, {})) for kind in NEW_BADGES] == expected


def test_summary_keeps_tag_sets_and_a_count_not_lists() -> None:
    reduced = reduce(documents.numpy())
    assert reduced["vulnerabilities"] == 0
    assert reduced["abi_tags"] == ["cp311", "cp312", "cp313", "cp313t", "cp314", "cp314t", "pypy311_pp73"]
    assert "win_arm64" in reduced["platform_tags"] and "manylinux_2_28_x86_64" in reduced["platform_tags"]
    assert len(json.dumps(reduced)) < 1500


def test_withdrawn_vulnerabilities_do_not_count() -> None:
    document = documents.pycrypto()
    document["vulnerabilities"].append(
        documents.vulnerability("PYSEC-2000-1", "CVE-2000-1", withdrawn="2024-01-01T00:00:00Z")
    )
    assert rules.vulnerabilities(reduce(document), {}) == ("2 known", "red")
    document["vulnerabilities"] = document["vulnerabilities"][2:]
    assert rules.vulnerabilities(reduce(document), {}) == ("none known", "brightgreen")
    for garbage in (None, "none", {"id": 1}, [7, "x"]):
        document["vulnerabilities"] = garbage
        reduced = reduce(document)
        assert rules.vulnerabilities(reduced, {}) == ("unknown", "lightgrey")  # not a list of entries


@pytest.mark.parametrize(
    "stages, expected",
    [
        (["1 - Unstable"], ("unstable", "orange")),
        (["1 - Unstable", "2 - Beta"], ("beta", "yellow")),
        (["3 - Stable", "2 - Beta"], ("stable", "brightgreen")),
        (["4 - Resilient"], ("resilient", "brightgreen")),
    ],
)
def test_free_threading_classifier_wins_over_wheels(stages: list[str], expected: tuple[str, str]) -> None:
    classifiers = [PY + "Free Threading :: " + stage for stage in stages]
    assert verdict("free_threading", classifiers=classifiers) == expected


@pytest.mark.parametrize(
    "filenames, expected",
    [
        (
            [
                "x-1-cp313-cp313-manylinux_2_17_x86_64.whl",
                "x-1-cp313-cp313-musllinux_1_2_x86_64.whl",
                "x-1-cp313-cp313-linux_armv7l.whl",
            ],
            "linux",
        ),
        (["x-1-cp312-cp312-macosx_10_9_universal2.whl", "x-1-cp312-cp312-win32.whl"], "macos | windows"),
        (["x-1-cp312-abi3-win_arm64.whl", "x-1-py3-none-any.whl"], "any"),
        (
            ["x-1-cp313-cp313-pyemscripten_2025_0_wasm32.whl", "x-1-cp313-cp313-solaris_2_11_sun4v.whl"],
            "emscripten | solaris",
        ),
    ],
)
def test_platform_families(filenames: list[str], expected: str) -> None:
    document = documents.with_files(pypi_document("x", "1"), filenames)
    assert rules.platforms(reduce(document), {}) == (expected, "blue")


def test_hostile_wheel_names_are_bounded() -> None:
    tags = ".".join(f"t{n}" for n in range(200))
    document = documents.with_files(
        pypi_document("x", "1"),
        [
            f"x-1-{tags}-{tags}-{tags}.whl",  # a compressed tag set of 8 million tags: not expanded
            "x-1-cp3.cp4.cp5.cp6-a.b.c.d.e-" + ".".join(f"p{n}_x" for n in range(9)) + ".whl",
            "not-a-wheel.whl",
            "x-1-cp313-cp313-" + "win_amd64" * 40 + ".whl",
        ],
    )
    reduced = reduce(document)
    assert reduced["abi_tags"] == ["a", "b", "c", "d", "e"] and len(reduced["platform_tags"]) == 9
    many = [f"x-1-cp3{n}-cp3{n}-plat{n}_x.whl" for n in range(200)]
    reduced = reduce(documents.with_files(pypi_document("x", "1"), many))
    assert len(reduced["abi_tags"]) == len(reduced["platform_tags"]) == summary.MAX_TAGS


def test_every_kind_has_a_url_name_in_both_forms() -> None:
    original = {kind for kind, _ in kinds.ORIGINAL_NAMES.values()}
    shields = {kind for kind, _ in kinds.SHIELDS_NAMES.values()}
    assert original == set(kinds.KINDS)
    assert shields == set(kinds.KINDS) - {"egg"}


@pytest.mark.parametrize(("total", "shown", "color"), [(312_456_789, "312M", "brightgreen"), (0, "0", "red")])
def test_total_downloads_are_metric_without_a_period(total: int, shown: str, color: str) -> None:
    counts = {"day": 1, "week": 2, "month": 3, "total": total}
    assert rules.downloads(counts, {"period": "total"}) == (shown, color)


def test_total_downloads_from_pypistats_are_unavailable() -> None:
    counts = summary.from_stats(json.dumps(stats_document("x", 5, 1500, 30000)).encode())
    assert rules.downloads(counts, {"period": "total"}) == ("unavailable", "lightgrey")
    assert rules.downloads(counts, {"period": "month"}) == ("30k/month", "brightgreen")
