"""Logos for the logo check and the renderer: real ones, and the hostile ones of issues 10 and 17."""

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


# the two kinds of logo of issue 10: one made node die, the other grew it without bound
TURBULENCE = (
    f'<svg {SVG_NS} width="14" height="14"><filter id="f" filterUnits="userSpaceOnUse" x="-90000" y="-90000" '
    'width="99999" height="99999"><feTurbulence baseFrequency="0.9" numOctaves="10"/></filter>'
    '<rect width="14" height="14" filter="url(#f)"/></svg>'
)


FLOOD = (  # without a memory ceiling node's RSS grows ~160 MB/s drawing it, and goes on
    f'<svg {SVG_NS} viewBox="0 0 1 1"><filter id="f" filterUnits="userSpaceOnUse" x="-1150" y="-1150" '
    'width="2300" height="2300"><feFlood/></filter><rect width="1" height="1" filter="url(#f)"/></svg>'
)


def clip_chain(depth: int, fan_out: int) -> str:
    """Issue 17's logo: clip paths of ``fan_out`` shapes, each shape clipped by the next clip path."""

    def level(n: int) -> str:
        clipped = f' clip-path="url(#c{n + 1})"' if n + 1 < depth else ""
        return f'<clipPath id="c{n}">' + f'<rect width="24" height="24"{clipped}/>' * fan_out + "</clipPath>"

    levels = "".join(level(n) for n in range(depth))
    drawn = '<rect width="24" height="24" clip-path="url(#c0)"/>'
    return f'<svg {SVG_NS} viewBox="0 0 24 24">{levels}{drawn}</svg>'


PYTHON = (  # simple-icons' Python logo, shortened
    f'<svg role="img" viewBox="0 0 24 24" {SVG_NS}><title>Python</title>'
    '<path d="M14.25.18l.9.2.73.26.59.3.45.32.34.34.25.34.16.33.1.3.04.26.02.2-.01.13V8.5l-.05.63-.13.55-.21'
    '.46-.26.38-.3.31-.33.25-.35.19-.35.14-.33.1-.3.07-.26.04-.21.02H8.77l-.69.05-.59.14-.5.22-.41.27z"/></svg>'
)


CLIPPED = (  # an exported drawing: every path clipped to the page, the page clipped by a rounded frame
    f'<svg {SVG_NS} viewBox="0 0 64 64"><clipPath id="frame"><circle cx="32" cy="32" r="31"/></clipPath>'
    '<clipPath id="page" clip-path="url(#frame)"><rect width="64" height="64" rx="8"/></clipPath>'
    + "".join(
        f'<path clip-path="url(#page)" style="opacity:.9" d="M{n} 0h8v64h-8z"/>' for n in range(0, 64, 8)
    )
    + "</svg>"
)


BIG = "x='-9e4' y='-9e4' width='99999' height='99999'"  # as large as resvg lets a layer grow
