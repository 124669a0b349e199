"""The OpenAPI 3.1 document of every badge route, in both URL forms, generated from the registry of kinds.

As shields.io documents each badge with its ``openApi``, but from the one registry the server routes
with: a kind added to ``KINDS`` is described here without a line of its own.
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pypipin import __version__
from pypipin.badges.formats import FORMATS
from pypipin.badges.kinds import KINDS, Kind
from pypipin.badges.lifetimes import MAX_CACHE_SECONDS
from pypipin.badges.parsing import MAX_LABEL, MAX_NAME, NAMED_COLORS, PARAMETERS, SCALES, STYLES
from pypipin.badges.rules import DEFAULT_PERIOD, FRAMEWORKS, PERIODS
from pypipin.upstream.indexes import DEFAULT

# the values of each rule option a URL takes, for the options that have a fixed set
OPTION_VALUES: Mapping[str, Sequence[str]] = {"framework": sorted(FRAMEWORKS), "period": PERIODS}
_COLORS = "a colour name (" + ", ".join(sorted(NAMED_COLORS)) + ") or hex, with or without #"
# what each query parameter every badge takes does; any value it cannot use is ignored
_COMMON = {
    "style": "The badge's look: " + ", ".join(STYLES) + f" (default {STYLES[0]}).",
    "label": f"Replaces the label, the left half: up to {MAX_LABEL} printable characters.",
    "text": "The same as label, its older name.",
    "color": "Colours the message, the right half: " + _COLORS + ".",
    "colorB": "The same as color, its older name.",
    "labelColor": "Colours the label: " + _COLORS + ".",
    "colorA": "The same as labelColor, its older name.",
    "cacheSeconds": f"Raises the HTTP cache lifetime, never lowers it: seconds, up to {MAX_CACHE_SECONDS}.",
    "scale": f"Raster formats: an image {SCALES[0]} to {SCALES[-1]} times larger.",
    "logo": "A logo drawn before the label: data:image/svg+xml;base64,... of plain vector shapes.",
    "index": f"The configured package index to read (default {DEFAULT}).",
    "pypiBaseUrl": "shields.io's spelling of index: the URL of a configured index.",
}
_OPTIONS = {
    "period": f"Downloads in the last day, week or month (default {DEFAULT_PERIOD}).",
    "include_prereleases": "Present (any value or none): the newest release by PEP 440 order.",
}
_PLAIN = {"text/plain": {"schema": {"type": "string"}}}
_JSON_BADGE = {
    "type": "object",
    "required": ["schemaVersion", "label", "message", "color", "isError"],
    "properties": {
        "schemaVersion": {"const": 1},
        "label": {"type": "string"},
        "message": {"type": "string"},
        "color": {"type": "string"},
        "isError": {"type": "boolean"},
    },
}


def _media(content_type: str) -> str:
    return content_type.split(";")[0]


def _answers() -> dict[str, Any]:
    """Every answer a badge route gives."""
    images: dict[str, Any] = {
        _media(each.content_type): {"schema": {"type": "string", "contentEncoding": "binary"}}
        for each in FORMATS.values()
        if each.name != "json"
    }
    images[_media(FORMATS["json"].content_type)] = {"schema": _JSON_BADGE}
    headers = {
        name: {"schema": {"type": "string"}, "description": use}
        for name, use in (
            ("ETag", "Of the body sent; If-None-Match with it answers 304."),
            ("Cache-Control", "How long the badge may be kept, from the badge's data and cacheSeconds."),
        )
    }
    return {
        "200": {
            "description": "The badge, in the format asked for. A badge that cannot show its data says why "
            "(not found, invalid name, unavailable, rate limited, unknown index, n/a) and is still a 200.",
            "headers": headers,
            "content": images,
        },
        "304": {"description": "Not modified: If-None-Match names the badge's current ETag."},
        "400": {"description": "The path is not UTF-8 text, or holds a NUL byte.", "content": _PLAIN},
        "404": {"description": "Not a badge URL (an unknown badge, framework or format).", "content": _PLAIN},
        "414": {"description": "The URI is too long.", "content": _PLAIN},
        "503": {"description": "The renderer is not drawing right now; try again.", "content": _PLAIN},
    }


def _parameter(name: str, use: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": use + " A value it cannot use is ignored.",
        "schema": {"type": "string"},
        **({"allowEmptyValue": True} if name == "include_prereleases" else {}),
        **({"examples": list(OPTION_VALUES[name])} if name in OPTION_VALUES else {}),
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _query(kind: Kind, fixed: Mapping[str, str]) -> list[dict[str, Any]]:
    """The query parameters of one URL name: every badge's, and the kind's options it does not fix."""
    return [_ref(name) for name in PARAMETERS] + [
        _parameter(name, _OPTIONS.get(name, name)) for name in kind.query if name not in fixed
    ]


def _path(name: str, description: str, values: Sequence[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "enum": list(values)} if values else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


_PACKAGE = _path(
    "package",
    f"A distribution name (PEP 503-normalised; up to {MAX_NAME} characters, another says invalid name).",
)
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag this badge was sent with: answered 304 while it is current.",
    "schema": {"type": "string"},
}


def _operation(kind: Kind, form: str, name: str, fixed: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The path and operation of one URL name of ``kind``."""
    # an option some URL name fixes, that this one does not and the query does not give, is a segment
    options = {
        option for names in (kind.original, kind.shields) for each in names.values() for option in each
    }
    from_path = sorted(options - set(fixed) - set(kind.query))
    segments = [_path(option, f"The {option}.", OPTION_VALUES.get(option)) for option in from_path]
    if form == "original":
        path = f"/{name}/{{package}}/badge.{{format}}"
        segments = [*segments, _ref("package"), _path("format", "The image format.", list(FORMATS))]
        how = "pypip.in's form"
    else:
        path = "/pypi/" + "/".join([name, *(f"{{{option}}}" for option in from_path), "{package}"])
        segments = [*segments, _ref("package")]
        how = "shields.io's form: the package may end in ." + ", .".join(FORMATS) + " (none: SVG)"
    title = kind.title.format(framework="Framework")
    return path, {
        "operationId": f"{form}-{name}",
        "summary": f"{title} ({how.split(':')[0]})",
        "description": f"{kind.description} {how}.",
        "tags": [kind.name],
        "parameters": [*segments, *_query(kind, fixed), _ref("If-None-Match")],
        "responses": {code: {"$ref": f"#/components/responses/{code}"} for code in _answers()},
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every badge route."""
    paths: dict[str, Any] = {}
    for kind in KINDS.values():
        for form in ("original", "shields"):
            for name, fixed in getattr(kind, form).items():
                path, operation = _operation(kind, form, name, fixed)
                paths[path] = {"get": operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pypipin",
            "version": __version__,
            "description": "PyPI badges, in pypip.in's URL form and shields.io's. Every badge route answers "
            "GET (and HEAD) with an image, or JSON for .json.",
        },
        "tags": [{"name": kind.name, "description": kind.description} for kind in KINDS.values()],
        "paths": paths,
        "components": {
            "parameters": {
                "package": _PACKAGE,
                "If-None-Match": _IF_NONE_MATCH,
                **{name: _parameter(name, _COMMON[name]) for name in PARAMETERS},
            },
            "responses": _answers(),
        },
    }


def body() -> bytes:
    """The document as it is served, made once."""
    return json.dumps(document(), separators=(",", ":"), sort_keys=True).encode()
