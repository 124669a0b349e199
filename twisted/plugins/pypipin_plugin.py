"""twistd plugin: ``twistd -n pypipin [options]``."""

from twisted.application.service import ServiceMaker

pypipin = ServiceMaker(
    "pypipin",
    "pypipin.plugin",
    "PyPI badges (the revival of pypip.in): a Klein app, a Node renderer, Redis.",
    "pypipin",
)
