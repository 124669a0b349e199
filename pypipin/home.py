"""The home page: every badge and parameter, generated from the registry the server routes with."""

import html
import os

from pypipin.badges import KINDS, ORIGINAL_NAMES, SHIELDS_NAMES
from pypipin.request import FORMATS, STYLES

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def page() -> bytes:
    """The whole page, as HTML."""
    rows = []
    for kind in KINDS.values():
        original = [name for name, (found, _) in ORIGINAL_NAMES.items() if found == kind.name]
        shields = [name for name, (found, _) in SHIELDS_NAMES.items() if found == kind.name]
        rows.append(
            f"<tr><td>{html.escape(kind.name)}</td>"
            f"<td>{', '.join(f'<code>/{html.escape(n)}/&lt;package&gt;/badge.svg</code>' for n in original)}</td>"
            f"<td>{', '.join(f'<code>/pypi/{html.escape(n)}/&lt;package&gt;</code>' for n in shields)}</td></tr>"
        )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>pypipin</title>"
        "<h1>pypipin: PyPI badges</h1>"
        f"<p>Formats: {', '.join(FORMATS)}. Styles: {', '.join(STYLES)}.</p>"
        "<table><tr><th>badge</th><th>pypip.in URL</th><th>shields.io URL</th></tr>"
        + "".join(rows)
        + "</table></html>"
    ).encode()
