"""pypipin: PyPI badges as a self-hosted Twisted service, the revival of pypip.in."""

__version__ = "0.1.0"
