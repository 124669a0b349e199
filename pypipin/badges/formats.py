"""Every badge format in one table, by a URL's extension: what it is drawn, served and sent as."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One format, as an extension names it."""

    name: str  # what it is drawn, cached and served as: the extension, or the one spelling of its synonyms
    content_type: str
    scalable: bool = False  # ``?scale=`` draws it larger (the rasters); SVG and JSON have one size
    gzipped: bool = False  # text, sent gzipped to clients that take it (the rasters are compressed already)


FORMATS = {
    "svg": Format("svg", "image/svg+xml;charset=utf-8", gzipped=True),
    "png": Format("png", "image/png", scalable=True),
    "jpg": Format("jpeg", "image/jpeg", scalable=True),
    "jpeg": Format("jpeg", "image/jpeg", scalable=True),
    "gif": Format("gif", "image/gif", scalable=True),
    "webp": Format("webp", "image/webp", scalable=True),
    "tiff": Format("tiff", "image/tiff", scalable=True),
    "json": Format("json", "application/json", gzipped=True),
}
IMAGES = tuple(ext for ext, each in FORMATS.items() if each.content_type.startswith("image/"))
RASTERS = tuple(ext for ext, each in FORMATS.items() if each.scalable)  # the extensions ``?scale=`` sizes
