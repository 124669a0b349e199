# Included by varnish.vcl and varnish-cluster.vcl (keep it beside them): what Varnish does
# for pypipin whatever the backends. Their vcl_recv starts with "call pypipin_recv;".

# who may read /metrics through Varnish (the daemons have their own --metrics-allow too):
# loopback as shipped; add your Prometheus server's address
acl metrics {
    "127.0.0.1";
    "::1";
}

# only GET and HEAD; /metrics to the ACL only; /health and /metrics never cached.
# The daemon routes /metrics written many ways (//metrics, /%2fmetrics, \metrics, /%6detrics, an
# absolute http://host/metrics): any first path segment that reads "metrics" once slashes,
# backslashes, dots and %-escapes are undone, in any case, is /metrics here. (The daemon checks
# --metrics-allow too, against the client this Varnish names in X-Forwarded-For.)
sub pypipin_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "Only GET and HEAD"));
    }
    if (req.url ~ "(?i)^([a-z][a-z0-9+.-]*://[^/\\]*)?([/\\.]|%2f|%5c|%2e)*(m|%6d)(e|%65)(t|%74)(r|%72)(i|%69)(c|%63)(s|%73)") {
        if (client.ip !~ metrics) {
            return (synth(403, "Forbidden"));
        }
        return (pass);
    }
    if (req.url ~ "^/health") {
        return (pass);
    }
    # a badge reads only these query parameters (pypipin/request.py: PARAMETERS and each kind's
    # options), spelt as here: any other is dropped from the URL, so "?x=1" is the cached badge,
    # not one more copy of it (assets keep their ?v=, which names their content)
    if (req.url ~ "\?" && req.url !~ "^/static/") {
        set req.url = regsub(req.url, "\?.*", "") + regsub(regsuball(regsub(req.url, "^[^?]*\?", "&"),
            "&(?!(style|label|text|color|colorB|labelColor|colorA|cacheSeconds|scale|logo|index|pypiBaseUrl|"
            + "period|include_prereleases)([=&]|$))[^&]*",
            ""), "^&", "?");
    }
}

# A client's refusal for budget (Cache-Control: private, no-store) is that client's answer
# alone: delivered to it and never stored. Varnish's own rule would remember the URL as
# hit-for-miss for 2 min, passing every request for it by the cached copy; here that lasts 1 s.
sub pypipin_backend_response {
    # the daemon's s-maxage sets the TTL; keep serving an expired badge for 6 h while
    # it is fetched again, or while the daemon is down (pypip.in's grace)
    set beresp.grace = 6h;
    if (beresp.status >= 500) {
        set beresp.ttl = 1s;
        set beresp.uncacheable = true;
    } else if (beresp.http.Cache-Control ~ "(?i)private|no-store") {
        set beresp.ttl = 1s;
        set beresp.grace = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
}

sub vcl_synth {
    if (resp.status == 405) {
        set resp.http.Allow = "GET, HEAD";
    }
    set resp.http.Content-Type = "text/plain; charset=utf-8";
    synthetic(resp.reason + {"
"});
    return (deliver);
}

# No daemon answered and nothing is cached: a badge URL gets an "unavailable" badge (the
# bytes the daemon draws for /v/), never Varnish's HTML error page in a README.
sub vcl_backend_error {
    if (bereq.url ~ "^/(health|metrics|static/|\?|$)") {
        return (deliver);
    }
    set beresp.status = 200;
    set beresp.reason = "OK";
    set beresp.http.Content-Type = "image/svg+xml;charset=utf-8";
    set beresp.http.Cache-Control = "max-age=10";
    set beresp.ttl = 10s;
    set beresp.grace = 0s;
    synthetic({"<svg xmlns="http://www.w3.org/2000/svg" width="106" height="20" role="img" aria-label="pypi: unavailable"><title>pypi: unavailable</title><filter id="blur"><feGaussianBlur stdDeviation="16"/></filter><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="106" height="20" rx="3"/></clipPath><g clip-path="url(#r)"><rect width="33" height="20" fill="#555"/><rect x="33" width="73" height="20" fill="#939393"/><rect width="106" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110"><g transform="scale(.1)"><g aria-hidden="true" fill="#010101"><text x="175" y="150" fill-opacity=".8" filter="url(#blur)" textLength="230">pypi</text><text x="175" y="150" fill-opacity=".3" textLength="230">pypi</text></g><text x="175" y="140" textLength="230">pypi</text></g><g transform="scale(.1)"><g aria-hidden="true" fill="#010101"><text x="685" y="150" fill-opacity=".8" filter="url(#blur)" textLength="630">unavailable</text><text x="685" y="150" fill-opacity=".3" textLength="630">unavailable</text></g><text x="685" y="140" textLength="630">unavailable</text></g></g></svg>"});
    return (deliver);
}
