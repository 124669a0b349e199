"""Access log lines: the combined format is Twisted's."""

import pytest


@pytest.mark.parametrize(
    "uri, agent",
    [
        (b"/v/demo/badge.svg?style=flat", b"Mozilla/5.0 (X11; Linux x86_64)"),
        (b'/v/"quoted"\\back\x01\x7f\xff', b'agent "007"\\ \xc3\xa9'),
        (b"/" + b"a" * 300, None),  # too long to be remembered, and no agent
    ],
)
def test_combined_line_is_twisteds_combined_format(uri: bytes, agent: bytes | None) -> None:
    from twisted.web.http import combinedLogFormatter
    from twisted.web.test.requesthelper import DummyRequest

    from pypipin.web.access_log import combined_line
    from pypipin.web.state import RequestState

    request = DummyRequest([b""])
    request.uri, request.method, request.clientproto, request.code, request.sentLength = (
        uri,
        b"GET",
        b"HTTP/1.1",
        200,
        1234,
    )
    if agent is not None:
        request.requestHeaders.setRawHeaders(b"user-agent", [agent])
    request.requestHeaders.setRawHeaders(b"referer", [b"https://github.com/x/y"])
    for _ in range(2):  # escaped, then remembered
        assert combined_line("[t]", request, RequestState()) == combinedLogFormatter("[t]", request).encode()
