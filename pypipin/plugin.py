"""What the twistd plugin loads: the options and the service maker."""

from twisted.application.service import IService

from pypipin.options import Options
from pypipin.wiring import make_service


def makeService(options: Options) -> IService:
    return make_service(options)


__all__ = ["Options", "makeService"]
