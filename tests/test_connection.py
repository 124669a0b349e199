"""Redis connections in memory: a Sentinel URL's parts and what ``repr`` shows of them; the master used only
once it says so; a +switch-master message leaves the old one."""

from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from pypipin.store.connection import Address, Sentinels, _MasterFactory, address


def test_a_sentinel_url_names_every_sentinel_the_master_the_db_and_the_masters_credentials() -> None:
    where = address("redis+sentinel://badges:s3%2Fcret@10.0.0.1:26379,[::1]:26380,sentinel.lan:26381/cache/2")
    assert where == Sentinels(
        sentinels=(("10.0.0.1", 26379), ("::1", 26380), ("sentinel.lan", 26381)),
        master="cache",
        db=2,
        username="badges",
        password="s3/cret",
    )
    assert repr(where) == "redis+sentinel://badges@10.0.0.1:26379,::1:26380,sentinel.lan:26381/cache/2"
    assert "s3" not in repr(where)


def test_a_sentinel_url_without_db_or_credentials_is_db_0_without_auth() -> None:
    where = address("redis+sentinel://:pw@127.0.0.1:26379/badges")
    assert isinstance(where, Sentinels)
    assert (where.master, where.db, where.username, where.password) == ("badges", 0, None, "pw")
    bare = address("redis+sentinel://127.0.0.1:26379/badges/")
    assert isinstance(bare, Sentinels) and (bare.db, bare.password) == (0, None)


def test_the_password_file_is_the_masters_password(tmp_path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("from-file\n")
    where = address("redis+sentinel://:from-url@127.0.0.1:26379/badges", str(secret))
    assert isinstance(where, Sentinels) and where.password == "from-file"


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:26379",  # no master name
        "redis+sentinel://127.0.0.1:26379/",
        "redis+sentinel://127.0.0.1:26379/badges/zero",
        "redis+sentinel://127.0.0.1/badges",  # a Sentinel without its port
        "redis+sentinel://127.0.0.1:26379,127.0.0.1:99999/badges",
        "redis+sentinel://127.0.0.1:26379,/badges",
        "redis+sentinel://127.0.0.1:26379/badges?tls=1",
    ],
)
def test_a_sentinel_url_that_names_no_master_or_a_sentinel_without_its_port_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        address(url)


def test_a_plain_url_is_one_server() -> None:
    assert address("rediss://badges:pw@redis.lan:6380/1") == Address(
        host="redis.lan", port=6380, db=1, tls=True, username="badges", password="pw"
    )


def bulk(*words: bytes) -> bytes:
    """A RESP array of bulk strings, as Redis writes a reply or a message."""
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)


class Told:
    """A ``Watcher`` that keeps what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def up(self, server: str) -> None:
        self.told.append(("up", server))

    def down(self, reason: str) -> None:
        self.told.append(("down", reason))


def master_factory(told: Told) -> Any:
    """The master's factory of a Sentinel URL; its subscriptions connect to a reactor that does nothing."""
    where = address("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/pypipin/0")
    assert isinstance(where, Sentinels)
    factory = _MasterFactory(
        reactor=MemoryReactorClock(),
        where=where,
        watcher=told,
        sentinel_manager=None,
        service_name="pypipin",
        is_master=True,
        uuid=None,
        dbid=0,
        poolsize=1,
        charset=None,
        replyTimeout=1.0,
    )
    return factory


async def turns() -> None:
    """A few turns of the reactor: txredisapi parses what follows a bulk string, and hands a ready connection
    to its pool, on the global reactor's next turn."""
    for _ in range(8):
        await task.deferLater(reactor, 0, lambda: None)


async def connected(factory: Any, port: int, role: bytes) -> StringTransport:
    """A connection of ``factory`` to 127.0.0.1:``port``, whose server answers ROLE with ``role``."""
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(transport)
    protocol.dataReceived(bulk(role, b"0"))
    await turns()
    protocol.dataReceived(b"+OK\r\n")  # SELECT 0, if it was sent
    await turns()
    return transport


@pytest_twisted.ensureDeferred
async def test_the_master_named_is_used_once_its_role_says_master_and_the_server_is_told() -> None:
    told = Told()
    factory = master_factory(told)
    transport = await connected(factory, 7001, b"master")
    assert b"ROLE" in transport.value() and not transport.disconnecting
    assert told.told == [("up", "127.0.0.1:7001")]


@pytest_twisted.ensureDeferred
async def test_a_replica_named_as_master_is_left_and_never_used() -> None:
    told = Told()
    factory = master_factory(told)
    transport = await connected(factory, 7001, b"slave")
    assert transport.disconnecting and b"SELECT" not in transport.value()
    assert told.told == [("down", "127.0.0.1:7001 is not the master yet: asking the Sentinels again")]


@pytest_twisted.ensureDeferred
async def test_switch_master_closes_a_connection_to_the_old_master_for_ours_only() -> None:
    told = Told()
    factory = master_factory(told)
    old = await connected(factory, 7001, b"master")
    sentinel = factory.switches[0].buildProtocol(None)
    sentinel.makeConnection(StringTransport())
    assert b"+switch-master" in sentinel.transport.value()
    sentinel.dataReceived(bulk(b"subscribe", b"+switch-master", b"1"))
    for message, left in [
        (b"other 127.0.0.1 7001 127.0.0.1 7009", False),  # another master of these Sentinels
        (b"pypipin 127.0.0.1 7002 127.0.0.1 7001", False),  # already on the new master
        (b"pypipin 127.0.0.1 7001 127.0.0.1 7002", True),
    ]:
        sentinel.dataReceived(bulk(b"message", b"+switch-master", message))
        await turns()
        assert not sentinel.replyQueue.pending, "the message was not read whole"
        assert old.disconnecting is left, message
