"""Render specs, logos as data: URLs, timing a render, a renderer directory filled as npm would fill it."""

import base64
from pathlib import Path
from typing import Any

from twisted.internet import reactor

# a generic badge as the renderer is asked for it: drawn once, shared by every package
SPEC = {
    "label": "wheel",
    "message": "yes",
    "color": "brightgreen",
    "style": "flat",
    "format": "svg",
    "scale": 1,
}


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def spec(label: str, fmt: str = "png", scale: int = 1, logo: str | None = None) -> dict[str, Any]:
    return {
        "label": label,
        "message": "yes",
        "color": "brightgreen",
        "labelColor": None,
        "style": "flat",
        "format": fmt,
        "scale": scale,
        "logo": logo,
    }


async def timed(work: Any) -> tuple[float, Any]:
    """Seconds ``work`` (a coroutine) took, and its result or the exception it raised."""
    started = reactor.seconds()
    try:
        result = await work
    except Exception as failure:
        result = failure
    return reactor.seconds() - started, result


def fill(directory: Path, lock: bytes, modules: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package-lock.json").write_bytes(lock)
    for name in modules:
        (directory / "node_modules" / name).mkdir(parents=True)
        (directory / "node_modules" / name / "package.json").write_text("{}")
    return directory
