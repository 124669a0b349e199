"""Redis URLs in memory: a Sentinel URL's parts, and what ``repr`` shows of them."""

import pytest

from pypipin.store.connection import Address, Sentinels, address


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
