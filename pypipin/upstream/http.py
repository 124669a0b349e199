"""One way to make a treq client: a persistent, quiet connection pool."""

from treq.client import HTTPClient
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import Agent, HTTPConnectionPool

from pypipin._twisted import quiet_pool


def client(
    reactor: IReactorTime, per_host: int, connect_timeout: float
) -> tuple[HTTPClient, HTTPConnectionPool]:
    """A treq client on its own keep-alive pool (treq asks for gzip and decodes it)."""
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = per_host
    quiet_pool(pool)
    agent = Agent(reactor, pool=pool, connectTimeout=connect_timeout)
    return HTTPClient(agent), pool
