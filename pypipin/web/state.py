"""What is learnt about one request while it is answered, kept on the request for the logs and metrics.

As Klein does for its own request state, the state is an adapter of Twisted's
``Request``: made on first use, then kept with the request.
"""

from dataclasses import dataclass

from twisted.python.components import registerAdapter
from twisted.web.iweb import IRequest
from twisted.web.server import Request
from zope.interface import Attribute, Interface, implementer

from pypipin.badges.parsing import BadgeRequest


class IRequestState(Interface):
    started = Attribute("When the request reached the service (seconds), None if it never did")
    badge = Attribute("The badge kind asked for, '-' for other requests")
    format = Attribute("The image format asked for, '-' for other requests")
    cache = Attribute("The cache layer that answered: hot, memory, redis, miss; '-' if untold")
    duration = Attribute("Seconds from reaching the service to the end of the response, None until then")
    wanted = Attribute("The badge the hot path parsed the URL into, when it did (None: not parsed yet)")


LAYERS = ("hot", "memory", "redis", "miss")  # from the cheapest answer to the dearest


@implementer(IRequestState)
@dataclass
class RequestState:
    started: float | None = None
    badge: str = "-"
    format: str = "-"
    cache: str = "-"
    duration: float | None = None
    wanted: BadgeRequest | None = None

    def reached(self, layer: str) -> None:
        """Note that answering needed ``layer``; the dearest layer reached is kept."""
        if self.cache == "-" or LAYERS.index(layer) > LAYERS.index(self.cache):
            self.cache = layer


registerAdapter(lambda _: RequestState(), Request, IRequestState)


def state(request: IRequest) -> RequestState:
    """The state of ``request``, made on first use."""
    return IRequestState(request)  # type: ignore[return-value]  # the adapter above makes a RequestState
