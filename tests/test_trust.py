"""The trust badges (provenance, project status, release date): their rules on summaries of warehouse-shaped
documents, the decoders' bounds, and what they cost upstream through the whole app in memory."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pypipin.badges import kinds, lifetimes
from pypipin.badges.kinds import KINDS, Outcome
from pypipin.upstream import summary, trust
from tests.support.fakepypi import (
    GITHUB,
    provenance_document,
    pypi_document,
    release_file,
    simple_document,
)
from tests.support.stack import BADGE_NAMES, Stack

SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()  # when the fake's files were uploaded


def combined(
    document: dict[str, Any], simple: dict[str, Any] | bytes, publisher: str | None = None, now: float = 0.0
) -> dict[str, Any]:
    """What the trust rules read: the JSON summary, the simple summary, the publisher and the time."""
    body = simple if isinstance(simple, bytes) else json.dumps(simple).encode()
    return {
        **summary.from_pypi(json.dumps(document).encode()),
        "simple": trust.from_simple(body),
        "publisher": publisher,
        "now": now,
    }


def said(kind: str, value: dict[str, Any]) -> tuple[str, str]:
    return tuple(KINDS[kind].rule(value, {}))


DEMO = pypi_document("demo", version="2.0")
FILES = frozenset(each["filename"] for each in DEMO["urls"])


@pytest.mark.parametrize(
    "attested, publisher, shown",
    [
        (FILES, "github.com/pypa/sampleproject", ("github.com/pypa/sampleproject", "brightgreen")),
        (FILES, None, ("attested", "brightgreen")),
        (frozenset({"demo-2.0.tar.gz"}), "google", ("google (1 of 2 files)", "yellow")),
        (frozenset(), None, ("none", "lightgrey")),
        # an older release's provenance says nothing of the latest
        (frozenset({"demo-0.1.0.tar.gz"}), None, ("none", "lightgrey")),
    ],
)
def test_provenance(attested: frozenset[str], publisher: str | None, shown: tuple[str, str]) -> None:
    assert (
        said("provenance", combined(DEMO, simple_document("demo", DEMO, attested=attested), publisher))
        == shown
    )


@pytest.mark.parametrize(
    "simple",
    [
        simple_document("demo", DEMO, api_version="1.1"),  # before PEP 740: no provenance keys
        simple_document("demo", DEMO, attested=None),  # an index that has none
        b"<!DOCTYPE html><html><body><a href='x'>demo-2.0.tar.gz</a></body></html>",  # no JSON form
    ],
)
def test_provenance_unknown_without_provenance_keys(simple: dict[str, Any] | bytes) -> None:
    assert said("provenance", combined(DEMO, simple)) == ("unknown", "lightgrey")


@pytest.mark.parametrize(
    "api_version, status, shown",
    [
        ("1.4", "active", ("active", "brightgreen")),
        ("1.4", None, ("active", "brightgreen")),  # absent from 1.4 on: active
        ("1.4", "archived", ("archived", "orange")),
        ("1.4", "deprecated", ("deprecated", "orange")),
        ("1.4", "quarantined", ("quarantined", "red")),
        ("1.11", None, ("active", "brightgreen")),  # versions compare as numbers
        ("1.3", "active", ("unknown", "lightgrey")),  # the fake leaves it out before 1.4
        ("1.1", None, ("unknown", "lightgrey")),
    ],
)
def test_project_status(api_version: str, status: str | None, shown: tuple[str, str]) -> None:
    simple = simple_document("demo", DEMO, api_version=api_version, status=status)
    if api_version == "1.11" and status is None:
        simple["meta"]["api-version"] = "1.11"
    assert said("project_status", combined(DEMO, simple)) == shown


def test_project_status_of_a_word_pep_792_does_not_have_is_unknown() -> None:
    simple = simple_document("demo", DEMO, status="haunted")
    assert said("project_status", combined(DEMO, simple)) == ("unknown", "lightgrey")


def at(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()  # type: ignore[misc]


# shields.io's formatDate (moment's calendar) and age, from an upload on Sunday 2025-06-01 12:00 UTC
@pytest.mark.parametrize(
    "now, shown",
    [
        (at(2025, 6, 1, 12, 30), ("today", "brightgreen")),
        (at(2025, 6, 1, 11), ("today", "brightgreen")),  # a clock a little behind
        (at(2025, 6, 2, 0), ("yesterday", "brightgreen")),
        (at(2025, 6, 2, 23, 59), ("yesterday", "brightgreen")),
        (at(2025, 6, 3, 0), ("last sunday", "brightgreen")),
        (at(2025, 6, 7, 23), ("last sunday", "brightgreen")),
        (at(2025, 6, 8, 0), ("june", "brightgreen")),  # 6.5 days: still under 7
        (at(2025, 6, 8, 12), ("june", "green")),  # 7 whole days
        (at(2025, 7, 1, 11), ("june", "green")),  # 29 days and 23 hours
        (at(2025, 7, 1, 12), ("june", "yellowgreen")),
        (at(2025, 12, 31), ("june", "yellow")),
        (at(2026, 1, 1), ("june 2025", "yellow")),
        (at(2026, 6, 1, 12), ("june 2025", "orange")),  # 365 days
        (at(2027, 6, 1, 12), ("june 2025", "red")),  # 730 days
    ],
)
def test_release_date(now: float, shown: tuple[str, str]) -> None:
    assert said("release_date", combined(DEMO, simple_document("demo", DEMO), now=now)) == shown


def test_release_date_is_the_earliest_upload_of_the_latest_release() -> None:
    late = {
        **release_file("demo", "2.0", "bdist_wheel"),
        "upload_time_iso_8601": "2025-06-09T08:00:00.123456Z",
    }
    document = {**DEMO, "urls": [late, release_file("demo", "2.0", "sdist")]}
    assert said("release_date", combined(document, b"", now=at(2025, 6, 9, 9))) == ("june", "green")
    assert said("release_date", combined({**DEMO, "urls": []}, b"")) == ("unknown", "lightgrey")


def test_the_release_date_badge_is_never_kept_past_midnight() -> None:
    kind = KINDS["release_date"]
    late = at(2025, 6, 1, 23, 59, 30)
    assert lifetimes.badge(kind, Outcome.FRESH, 600, 0, late) == lifetimes.Lifetime(30, 30)
    assert lifetimes.badge(kind, Outcome.FRESH, 600, 86400, at(2025, 6, 1)).max_age == 86400
    assert lifetimes.badge(kind, Outcome.FRESH, 600, 0, late + 60).max_age == kind.max_age
    assert lifetimes.badge(KINDS["version"], Outcome.FRESH, 600, 0, late).max_age == KINDS["version"].max_age
    assert b"stale-while-revalidate" not in lifetimes.cache_control(30, daily=True)


def test_a_release_date_badge_lives_until_midnight() -> None:
    stack = Stack()
    stack.clock.advance(at(2025, 6, 7, 23, 50) - stack.clock.seconds())
    stack.upstream.add("demo")
    answer = stack.get("/pypi/release-date/demo")
    assert answer.shown == ["release date", "last sunday"]
    assert answer.header("cache-control") == "public, max-age=600, s-maxage=600, stale-if-error=604800"
    stack.advance(601)
    assert stack.get("/pypi/release-date/demo").shown == ["release date", "june"]


@pytest.mark.parametrize(
    "publisher, said_",
    [
        (GITHUB, "github.com/pypa/sampleproject"),
        (
            {"kind": "GitLab", "repository": "group/project", "workflow_filepath": ".gitlab-ci.yml"},
            "gitlab.com/group/project",
        ),
        ({"kind": "Google", "email": "builder@example.iam.gserviceaccount.com"}, "google"),
        ({"kind": "ActiveState", "organization": "o"}, "activestate"),
    ],
)
def test_publisher_of_an_integrity_answer(publisher: dict[str, Any], said_: str) -> None:
    body = json.dumps(provenance_document(publisher)).encode()
    assert trust.from_integrity(body) == {"publisher": said_}


@pytest.mark.parametrize("body", [b"[]", b'{"attestation_bundles": 7}', b"not json", b"[" * 100_000])
def test_a_misshapen_document_is_garbled(body: bytes) -> None:
    with pytest.raises(summary.Garbled):
        trust.from_integrity(body)
    with pytest.raises(summary.Garbled):
        trust.from_simple(b"{" + body)


def test_the_simple_summary_is_bounded() -> None:
    releases = {f"1.{n}": [release_file("demo", f"1.{n}", "sdist")] for n in range(100)}
    simple = trust.from_simple(
        json.dumps(simple_document("demo", pypi_document("demo", releases=releases))).encode()
    )
    assert len(simple["releases"]) == trust.RECENT_RELEASES
    with pytest.raises(summary.Garbled):
        trust.from_simple(b'{"files": [' + b"{}," * (4 * trust.MAX_FILES) + b"{}]}")


def test_every_badge_has_a_kind_in_both_url_forms() -> None:
    assert kinds.ORIGINAL_NAMES["provenance"][0] == kinds.SHIELDS_NAMES["provenance"][0] == "provenance"
    assert kinds.ORIGINAL_NAMES["project_status"][0] == kinds.SHIELDS_NAMES["projectstatus"][0]
    assert kinds.ORIGINAL_NAMES["release_date"][0] == kinds.SHIELDS_NAMES["release-date"][0]


# through the whole app


def test_the_simple_api_is_asked_only_for_the_badges_that_read_it(stack: Stack) -> None:
    stack.upstream.add("demo")
    for name in BADGE_NAMES:
        if KINDS[kinds.ORIGINAL_NAMES[name][0]].source not in ("simple", "provenance"):
            stack.get(f"/{name}/demo/badge.svg")
    assert stack.upstream.total("/simple/") == 0
    assert stack.get("/pypi/projectstatus/demo.json").shown == ["project", "active"]
    assert stack.get("/project_status/demo/badge.svg").shown == ["project", "active"]
    assert stack.get("/pypi/provenance/demo").shown == ["provenance", "none"]
    assert stack.upstream.requests["/simple/demo/"] == 1
    assert stack.upstream.total("/integrity/") == 0  # no file attested: no provenance asked


def test_a_provenance_is_asked_once_and_the_simple_document_revalidated() -> None:
    stack = Stack("--pypi-ttl", "60")
    stack.upstream.add("demo", version="2.0")
    stack.upstream.attest("demo", frozenset({"demo-2.0.tar.gz"}), {"kind": "GitLab", "repository": "g/demo"})
    assert stack.get("/provenance/demo/badge.svg").shown == ["provenance", "gitlab.com/g/demo (1 of 2 files)"]
    stack.advance(61)
    assert stack.get("/provenance/demo/badge.svg").shown == ["provenance", "gitlab.com/g/demo (1 of 2 files)"]
    assert stack.upstream.requests["/simple/demo/"] == 2  # the second a conditional request, answered 304
    assert stack.counters.upstream["simple:pypi", "not_modified"] == 1
    assert stack.upstream.requests["/integrity/demo/2.0/demo-2.0.tar.gz/provenance"] == 1


def test_an_index_of_api_version_1_1_says_unknown(stack: Stack) -> None:
    stack.upstream.add("old")
    stack.upstream.simple["old"] = simple_document("old", stack.upstream.packages["old"], api_version="1.1")  # type: ignore[arg-type]
    assert stack.get("/provenance/old/badge.svg").shown == ["provenance", "unknown"]
    assert stack.get("/project_status/old/badge.svg").shown == ["project", "unknown"]


def test_every_badge_of_a_quarantined_project_says_so(stack: Stack) -> None:
    stack.upstream.add("evil")
    stack.upstream.quarantine("evil")
    answers = stack.burst([f"/{name}/evil/badge.svg" for name in BADGE_NAMES])
    assert {tuple(answer.shown) for answer in answers} == {
        (answer.shown[0], "quarantined") for answer in answers
    }
    assert {json.loads(answer.body)["color"] for answer in answers} == {"red"}
    assert stack.upstream.requests["/simple/evil/"] == 1
    assert stack.get("/v/nothing-here/badge.svg").shown == ["pypi", "not found"]


def test_files_are_grouped_by_the_version_in_their_names() -> None:
    names = [
        "Django-1.0.tar.gz",  # an old sdist: the name keeps its capital and may hold dashes
        "zope.interface-5.0-py3-none-any.whl",
        "demo-2.0rc1-1-cp312-cp312-win_amd64.whl",  # with a build tag
        "demo-2.0.0-py2.7.egg",
        "my-old-tool-2.0.zip",
        "demo-2.0.exe",  # a bdist_wininst: no version read, not counted
        "demo-nightly.tar.gz",  # not PEP 440
    ]
    body = json.dumps({"meta": {"api-version": "1.4"}, "files": [{"filename": name} for name in names]})
    assert trust.from_simple(body.encode())["releases"] == {
        "1": [1, 0, ""],
        "5": [1, 0, ""],
        "2rc1": [1, 0, ""],
        "2": [2, 0, ""],
    }
