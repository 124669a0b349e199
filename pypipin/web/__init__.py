"""The HTTP face: routes, the hot path, response headers, the listener, who a client is, the page and
the access log."""
