"""What the twistd plugin loads: the options and the service maker."""

from twisted.application.service import MultiService

from pypipin.options import Options
from pypipin.settings import Settings
from pypipin.wiring import make_service


def makeService(options: Options) -> MultiService:
    """The daemon, from twistd's parsed ``options`` turned into ``Settings`` once."""
    return make_service(Settings.from_options(options))


__all__ = ["Options", "makeService"]
