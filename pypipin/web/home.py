"""The home page: a badge-snippet generator and the reference of every badge and parameter.

Everything the page lists (badges, URL names, parameters' values, styles, formats, colours)
is generated here from the registry the server routes with, so it cannot drift from what is
served. The page never depends on the request: the JavaScript reads ``?package=`` itself.
"""

import hashlib
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pypipin.badges.formats import FORMATS, IMAGES, RASTERS
from pypipin.badges.kinds import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES, Kind
from pypipin.badges.lifetimes import MAX_CACHE_SECONDS
from pypipin.badges.parsing import HEX_COLOR, MAX_LABEL, MAX_NAME, NAMED_COLORS, SCALES, STYLES
from pypipin.badges.rules import DEFAULT_PERIOD, FRAMEWORKS, PERIODS, TOTAL
from pypipin.upstream.indexes import DEFAULT

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

DEFAULT_FRAMEWORK = "django"


@dataclass(frozen=True)
class Parameter:
    """One query parameter as documented: its names, values (HTML), default (HTML) and use."""

    names: tuple[str, ...]
    values: str
    default: str
    use: str


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _codes(values: Any) -> str:
    return ", ".join(_code(str(value)) for value in values)


def parameters() -> list[Parameter]:
    """Every query parameter a badge URL takes."""
    colours = (
        f"a name ({_codes(sorted(NAMED_COLORS))}) or hex with or without # ({_codes(['4c1', '#44cc11'])})"
    )
    return [
        Parameter(("style",), _codes(STYLES), _code(STYLES[0]), "The badge's look."),
        Parameter(
            ("label", "text"),
            f"any text, up to {MAX_LABEL} characters",
            "the badge's label",
            "Replaces the label, the left half.",
        ),
        Parameter(("color", "colorB"), colours, "the rule's colour", "Colours the message, the right half."),
        Parameter(("labelColor", "colorA"), colours, _code("grey"), "Colours the label."),
        Parameter(
            ("period",),
            _codes((*PERIODS, TOTAL)),
            _code(DEFAULT_PERIOD),
            "Downloads, pypip.in form (the shields.io names fix it).",
        ),
        Parameter(
            ("include_prereleases",),
            "present or absent",
            "absent",
            "Version: the newest release by PEP 440 order, pre-releases included.",
        ),
        Parameter(
            ("scale",),
            f"{SCALES[0]} to {SCALES[-1]}",
            _code(str(SCALES[0])),
            f"Raster formats ({_codes(RASTERS)}): a larger image.",
        ),
        Parameter(
            ("cacheSeconds",),
            f"seconds, up to {MAX_CACHE_SECONDS // 86400} days",
            "per badge",
            "Raises the HTTP cache lifetime, never lowers it.",
        ),
    ]


def _kind_options(kind: Kind) -> list[str]:
    """The options a kind's rule reads: fixed by some URL name, or from the query."""
    fixed = {key for names in (kind.original, kind.shields) for options in names.values() for key in options}
    return sorted(fixed | set(kind.query))


def registry(indexes: Sequence[str] = (DEFAULT,)) -> dict[str, Any]:
    """What the page's JavaScript needs to build badge URLs, taken from the server's registry.

    ``indexes``: the names of the configured indexes, the default first (never their URLs).
    """
    return {
        "kinds": [
            {"name": kind.name, "title": kind.title, "label": kind.label, "options": _kind_options(kind)}
            for kind in KINDS.values()
        ],
        "original": {name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in ORIGINAL_NAMES.items()},
        "shields": {name: {"kind": kind, "fixed": fixed} for name, (kind, fixed) in SHIELDS_NAMES.items()},
        "formats": list(IMAGES),
        "rasters": list(RASTERS),
        "styles": list(STYLES),
        "colors": sorted(NAMED_COLORS),
        "hex": HEX_COLOR.pattern,
        "periods": [*PERIODS, TOTAL],
        "default_period": DEFAULT_PERIOD,
        "frameworks": {name: framework.name for name, framework in FRAMEWORKS.items()},
        "max_name": MAX_NAME,
        "indexes": list(indexes),
    }


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no <, > or & that could end it or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def asset(name: str) -> str:
    """The URL of a file in STATIC_DIR, with a digest of its content so a change reaches browsers."""
    with open(os.path.join(STATIC_DIR, name), "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _names(kind: Kind, form: str) -> str:
    """The URL names of one kind in one form, each with what it fixes."""
    chips = []
    for name, fixed in getattr(kind, form).items():
        if form == "shields" and "framework" in _kind_options(kind) and "framework" not in fixed:
            name += "/<framework>"
        note = f" <span class=fixed>{html.escape(', '.join(fixed.values()))}</span>" if fixed else ""
        chips.append(f"<li>{_code(name)}{note}</li>")
    return f"<ul class=chips>{''.join(chips)}</ul>" if chips else "<span class=none>none</span>"


_SNIPPET = """<div class=snippet>
      <div class=snippet-bar><span class=syntax-name>Markdown</span><button type=button class=copy
        aria-describedby="{title}">Copy</button></div>
      <pre><code></code></pre>
    </div>"""


def _card(kind: Kind) -> str:
    name = kind.name
    title = html.escape(kind.title.format(framework="Framework"))
    return f"""
<article class="card badge" id="kind-{name}" data-kind="{name}" aria-labelledby="title-{name}">
  <header class=card-head>
    <h3 id="title-{name}">{title}</h3>
    <label class=include hidden><input type=checkbox checked> In block<span class=visually-hidden>
      above: {title}</span></label>
  </header>
  <p class=desc>{html.escape(kind.description)}</p>
  <div class=live hidden>
    <a class=preview><img alt="" decoding=async></a>
    {_SNIPPET.format(title=f"title-{name}")}
  </div>
  <dl class=names>
    <div><dt>pypip.in</dt><dd>{_names(kind, "original")}</dd></div>
    <div><dt>shields.io</dt><dd>{_names(kind, "shields")}</dd></div>
  </dl>
</article>"""


def _options(values: Any, selected: str) -> str:
    return "".join(
        f"<option{' selected' if str(value) == selected else ''}>{html.escape(str(value))}</option>"
        for value in values
    )


def _form(indexes: Sequence[str]) -> str:
    colours = "".join(f'<option value="{html.escape(color)}">' for color in sorted(NAMED_COLORS))
    return f"""
<form id=generator class=generator action="/" method=get novalidate>
  <div class=lookup>
    <label for=package>Package on PyPI</label>
    <div class=lookup-row>
      <input id=package name=package type=text inputmode=text autocomplete=off autocapitalize=none
             spellcheck=false
             maxlength={MAX_NAME} placeholder="e.g. twisted" aria-describedby="package-help package-error">
      <button type=submit>Show badges</button>
    </div>
    <p id=package-help class=hint>Any spelling works: <code>Django</code>, <code>DJANGO</code> and
      <code>django</code> are one package.</p>
    <p id=package-error class=error hidden></p>
  </div>
  <fieldset class=options>
    <legend>Options</legend>
    <div class=options-grid>
    <fieldset class="field choice">
      <legend>URL form</legend>
      <label><input type=radio name=urls value=original checked> pypip.in <code>/v/…/badge.svg</code></label>
      <label><input type=radio name=urls value=shields> shields.io <code>/pypi/v/…</code></label>
    </fieldset>
    <div class=field>
      <label for=index>Index</label>
      <select id=index name=index aria-describedby=index-help>{_options(indexes, indexes[0])}</select>
      <p id=index-help class=hint>Where the package lives: <code>{html.escape(DEFAULT)}</code> is PyPI,
        others are configured on this server.</p>
    </div>
    <div class=field>
      <label for=style>Style</label>
      <select id=style name=style>{_options(STYLES, STYLES[0])}</select>
    </div>
    <div class=field>
      <label for=format>Format</label>
      <select id=format name=format>{_options(registry(indexes)["formats"], "svg")}</select>
    </div>
    <div class=field>
      <label for=scale>Scale</label>
      <select id=scale name=scale aria-describedby=scale-help
              disabled>{_options(SCALES, str(SCALES[0]))}</select>
      <p id=scale-help class=hint>Raster formats only.</p>
    </div>
    <div class=field>
      <label for=label>Label text</label>
      <input id=label name=label type=text maxlength={MAX_LABEL} autocomplete=off aria-describedby=label-help>
      <p id=label-help class=hint>Replaces the left half of every badge.</p>
    </div>
    <div class=field>
      <label for=color>Color</label>
      <input id=color name=color type=text list=colors autocomplete=off spellcheck=false
             aria-describedby="color-help color-error">
      <p id=color-help class=hint>A name or hex, e.g. <code>orange</code>, <code>4c1</code>.</p>
      <p id=color-error class=error hidden></p>
    </div>
    <div class=field>
      <label for=labelColor>Label color</label>
      <input id=labelColor name=labelColor type=text list=colors autocomplete=off spellcheck=false
             aria-describedby="labelColor-help labelColor-error">
      <p id=labelColor-help class=hint>Default grey.</p>
      <p id=labelColor-error class=error hidden></p>
    </div>
    <div class=field>
      <label for=period>Downloads period</label>
      <select id=period name=period>{_options((*PERIODS, TOTAL), DEFAULT_PERIOD)}</select>
    </div>
    <div class=field>
      <label for=framework>Framework</label>
      <select id=framework name=framework
              aria-describedby=framework-help>{_options(FRAMEWORKS, DEFAULT_FRAMEWORK)}</select>
      <p id=framework-help class=hint>For the framework versions badge (shields.io's list).</p>
    </div>
    <div class="field check">
      <label><input type=checkbox name=include_prereleases value=1> Include pre-releases</label>
      <p class=hint>Version badge: the newest release of all.</p>
    </div>
    </div>
  </fieldset>
  <datalist id=colors>{colours}</datalist>
</form>"""


def _reference() -> str:
    rows = "".join(
        f"<tr><th scope=row>{' or '.join(_code(name) for name in parameter.names)}</th>"
        f"<td data-label=Values>{parameter.values}</td><td data-label=Default>{parameter.default}</td>"
        f"<td data-label=Use>{parameter.use}</td></tr>"
        for parameter in parameters()
    )
    formats = "".join(
        f"<tr><th scope=row>{_code(fmt)}</th><td data-label='Content type'>{_code(each.content_type)}</td>"
        f"<td data-label=Notes>{_format_note(fmt)}</td></tr>"
        for fmt, each in FORMATS.items()
    )
    return f"""
<section id=reference class=reference aria-labelledby=reference-title>
  <h2 id=reference-title>Reference</h2>
  <h3>URLs</h3>
  <p>Every badge answers at two forms of URL, so READMEs written for pypip.in keep working and
  shields.io PyPI badges move here by changing only the host:</p>
  <ul class=forms>
    <li>pypip.in: <code>/&lt;name&gt;/&lt;package&gt;/badge.&lt;format&gt;</code>,
      e.g. <code>/v/twisted/badge.svg</code></li>
    <li>shields.io: <code>/pypi/&lt;name&gt;/&lt;package&gt;</code> (SVG) or
      <code>/pypi/&lt;name&gt;/&lt;package&gt;.&lt;format&gt;</code>, e.g. <code>/pypi/v/twisted</code></li>
  </ul>
  <p>Each badge above lists its names. Package names are matched as PyPI does, ignoring case and
  <code>-</code>, <code>_</code>, <code>.</code>; a name that is not a valid distribution name gets an
  <code>invalid name</code> badge without asking PyPI.</p>
  <h3>Parameters</h3>
  <p>For every badge. An unknown parameter is ignored; a known one with a bad value falls back to its
  default.</p>
  <div class=table-wrap><table>
    <thead><tr><th scope=col>Parameter</th><th scope=col>Values</th><th scope=col>Default</th><th
      scope=col>Use</th></tr></thead>
    <tbody>{rows}</tbody>
  </table></div>
  <h3>Formats</h3>
  <div class=table-wrap><table>
    <thead><tr><th scope=col>Format</th><th scope=col>Content type</th><th scope=col>Notes</th></tr></thead>
    <tbody>{formats}</tbody>
  </table></div>
  <h3>When something goes wrong</h3>
  <p>A badge URL always answers with a badge that tells the truth: a package PyPI does not know says
  <code>not found</code>, and while PyPI or pypistats cannot be reached the last known badge is served,
  or <code>unavailable</code> when there is none.</p>
  <h3>Service</h3>
  <ul>
    <li><a href="/health"><code>/health</code></a>: the renderer's and the cache's state, as JSON.</li>
    <li><a href="/metrics"><code>/metrics</code></a>: cache, upstream and render counters for Prometheus.</li>
    <li><a href="/openapi.json"><code>/openapi.json</code></a>: every badge route in both URL forms, in
    OpenAPI 3.1.</li>
  </ul>
</section>"""


def _format_note(fmt: str) -> str:
    if fmt == "svg":
        return "The default; sharp at any size."
    if fmt == "json":
        return (
            "shields.io's endpoint schema, for "
            "<code>https://img.shields.io/endpoint?url=…/pypi/v/twisted.json</code>."
        )
    return f"Drawn from the SVG; {_code('?scale=2')} for a larger image."


_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; "
    "form-action 'self'"
)


def page(indexes: Sequence[str] = (DEFAULT,)) -> bytes:
    """The whole page, as HTML: the same bytes for every request; ``indexes`` as for ``registry()``."""
    cards = "".join(_card(kind) for kind in KINDS.values())
    return f"""<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<meta http-equiv=Content-Security-Policy content="{_CSP}">
<title>pypipin: PyPI badges for your README</title>
<meta name=description
      content="Badges for any package on PyPI, with ready-to-paste Markdown, reStructuredText and HTML.">
<link rel=icon href="data:,">
<link rel=stylesheet href="{asset("home.css")}">
<script src="{asset("home.js")}" defer></script>
</head>
<body>
<header class=masthead>
  <div class=wrap>
    <p class=brand>pypipin</p>
    <h1>Badges for your package's README</h1>
    <p class=lede>Name a package on PyPI and every badge appears below, ready to paste as Markdown,
    reStructuredText or HTML. This server draws them; it is the revival of pypip.in.</p>
  </div>
</header>
<main class=wrap>
{_form(indexes)}
<section id=results class=results aria-labelledby=results-title>
  <div class=results-head>
    <h2 id=results-title>Badges</h2>
    <fieldset class="choice syntax" form=generator>
      <legend>Snippets in</legend>
      <label><input type=radio name=syntax value=markdown form=generator checked> Markdown</label>
      <label><input type=radio name=syntax value=rst form=generator> reStructuredText</label>
      <label><input type=radio name=syntax value=html form=generator> HTML</label>
    </fieldset>
  </div>
  <p id=status class=status role=status aria-live=polite>Name a package above to see its badges.
  Each kind of badge is described below.</p>
  <noscript><p class=status>The snippets are written by JavaScript; the reference below needs
  none.</p></noscript>
  <div id=block class="card block" hidden>
    <div class=card-head><h3 id=block-title>All ticked badges</h3></div>
    <p class=desc>One block for the top of your README.</p>
    {_SNIPPET.format(title="block-title")}
  </div>
  <div id=badges class=grid>{cards}
  </div>
</section>
{_reference()}
</main>
<footer class=wrap><p>Data from the PyPI JSON, simple and Integrity APIs and pypistats.org.
  <a href="https://github.com/badges/shields">badge-maker</a> draws the images.</p></footer>
<p id=announce class=visually-hidden aria-live=polite></p>
<script type="application/json" id=registry>{script_json(registry(indexes))}</script>
</body>
</html>
""".encode()
