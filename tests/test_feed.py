"""Following the update feed: its items, one poller per fleet, stale marks, the long TTL and the fallback."""

import json

import pytest
from twisted.application.internet import TimerService
from twisted.internet import task

from pypipin.data.feed import Follower
from pypipin.upstream.feed import Item, items, url_for, with_query
from pypipin.upstream.summary import Garbled
from tests.support.fakepypi import FakeUpstream
from tests.support.stack import Stack

INTERVAL = 60.0


def test_url_of_the_feed_beside_the_json_api() -> None:
    assert url_for("https://pypi.org/pypi") == "https://pypi.org/rss/updates.xml"
    assert url_for("https://pypi.org/pypi/") == "https://pypi.org/rss/updates.xml"
    assert with_query("https://pypi.org/rss/updates.xml", 120) == (
        "https://pypi.org/rss/updates.xml?max_age=120&limit=200"
    )


def test_items_as_warehouse_writes_them() -> None:
    fake = FakeUpstream(task.Clock())
    fake.add("Zope.Interface")
    fake.clock.advance(1_000_000)
    fake.release("Zope.Interface", "7.0")
    fake.clock.advance(5)
    fake.add("attrs")
    fake.release("attrs", "25.1.0rc1")
    assert items(fake.feed(None, 40)) == [
        Item("attrs", "25.1.0rc1", 1_000_005.0),
        Item("zope.interface", "7.0", 1_000_000.0),
    ]
    assert [item.package for item in items(fake.feed(2, 40))] == ["attrs"]
    assert len(items(fake.feed(None, 1))) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<rss><channel>&b;</channel></rss>",
        b"<html>not a feed</html>",
        b"not xml at all \x00",
    ],
)
def test_a_body_that_is_no_feed_is_refused(body: bytes) -> None:
    with pytest.raises(Garbled):
        items(body)


def fleet(count: int, *args: str) -> list[Stack]:
    """Daemons sharing one store, one clock and one fake PyPI, their feed followers ticking
    (``TICKING``: each one's service)."""
    first = Stack("--feed-interval", str(INTERVAL), *args)
    first.upstream.add("demo", version="1.0")
    stacks = [first] + [
        Stack(
            "--feed-interval",
            str(INTERVAL),
            *args,
            store=first.store,
            clock=first.clock,
            upstream=first.upstream,
        )
        for _ in range(count - 1)
    ]
    for each in stacks:
        TICKING[each] = follower(each).service()
        TICKING[each].startService()
    first.advance(1)
    return stacks


TICKING: dict[Stack, TimerService] = {}


def follower(stack: Stack) -> Follower:
    return stack.app.feeds["pypi"]


def version(stack: Stack) -> str:
    return stack.get("/v/demo/badge.json").shown[1]


def test_one_poller_for_the_fleet_and_a_release_shows_on_every_daemon_within_an_interval() -> None:
    stacks = fleet(3)
    assert [version(each) for each in stacks] == ["v1.0"] * 3
    fetched = stacks[0].upstream.requests["/pypi/demo/json"]
    stacks[0].advance(5 * INTERVAL)
    assert sum(follower(each).polls for each in stacks) == 6  # one a minute from the start, by one daemon
    assert [follower(each).mode() for each in stacks] == ["feed"] * 3
    stacks[0].upstream.release("demo", "2.0")
    stacks[0].advance(INTERVAL)
    assert [version(each) for each in stacks] == ["v2.0"] * 3  # the hot responses were dropped
    assert stacks[0].upstream.requests["/pypi/demo/json"] == fetched + 1  # one refetch for the fleet


def test_the_lease_is_taken_over_within_an_interval_when_its_holder_stops() -> None:
    stacks = fleet(2)
    holder = next(each for each in stacks if follower(each).polls)
    other = next(each for each in stacks if each is not holder)
    TICKING[holder].stopService()  # the holder dies: its lease lapses half an interval later
    polled = follower(other).polls
    other.advance(INTERVAL)
    assert follower(other).polls == polled + 1
    assert follower(other).mode() == "feed"


def test_long_ttl_while_the_feed_is_read_and_the_short_ttl_when_it_fails() -> None:
    (stack,) = fleet(1)
    assert version(stack) == "v1.0"
    fetched = stack.upstream.requests["/pypi/demo/json"]
    stack.advance(3600)  # six times --pypi-ttl: no call, the feed tells of no release
    stack.hot.pop(b"/v/demo/badge.json")
    assert version(stack) == "v1.0"
    assert stack.upstream.requests["/pypi/demo/json"] == fetched
    stack.upstream.feed_down = True
    stack.advance(INTERVAL)
    assert follower(stack).mode() == "fallback"
    stack.upstream.release("demo", "2.0")  # not in any feed read: the short TTL finds it
    stack.advance(600)
    stack.hot.pop(b"/v/demo/badge.json")
    assert version(stack) == "v2.0"
    assert stack.get("/health").body.count(b'"mode": "fallback"') == 1


def test_after_the_feed_was_down_the_fleet_catches_up() -> None:
    (stack,) = fleet(1)
    version(stack)
    stack.upstream.feed_down = True
    stack.advance(300)
    assert follower(stack).mode() == "fallback"
    stack.upstream.feed_down = False
    stack.advance(INTERVAL)
    state = follower(stack).state
    assert follower(stack).mode() == "feed"
    assert state.since is not None and state.read is not None and state.since > state.read - 3 * INTERVAL
    # the document fetched before the gap is on the short TTL: it may have missed a release
    assert follower(stack).ttl(stack.clock.seconds() - 400) == 600
    assert follower(stack).ttl(stack.clock.seconds()) == 86400


def test_no_feed_keeps_the_ttl_and_an_index_may_name_its_feed() -> None:
    stack = Stack(
        "--feed-url",
        "none",
        "--index",
        "corp=http://corp.test/pypi|http://corp.test/rss/updates.xml",
        "--index",
        "devpi=http://devpi.test/root/pypi",
    )
    assert list(stack.app.feeds) == ["corp"]
    assert stack.app.feeds["corp"].url == "http://corp.test/rss/updates.xml?max_age=120&limit=200"
    assert json.loads(stack.get("/health").body)["feeds"] == {
        "pypi": {"mode": "off"},
        "corp": {"mode": "fallback", "last_read": None, "since": None},
        "devpi": {"mode": "off"},
    }
