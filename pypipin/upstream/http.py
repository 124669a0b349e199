"""One way to make a treq client: a persistent, quiet connection pool."""

from typing import Any

from treq.client import HTTPClient
from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False  # no "Starting factory" log line for every pooled connection


def client(reactor: Any, per_host: int, connect_timeout: float) -> tuple[HTTPClient, HTTPConnectionPool]:
    """A treq client on its own keep-alive pool (treq asks for gzip and decodes it)."""
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = per_host
    pool._factory = _QuietFactory
    agent = Agent(reactor, pool=pool, connectTimeout=connect_timeout)
    return HTTPClient(agent), pool
