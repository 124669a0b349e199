# Varnish 7 in front of several pypipin daemons on one host (one per core), sharing one Redis.
# Add a backend per daemon and list it in vcl_init; run each daemon with its own --port.
# Keep varnish-badges.vcl (included below) beside this file.
vcl 4.1;

import directors;

include "./varnish-badges.vcl";

probe health {
    .url = "/health";
    .interval = 5s;
    .timeout = 2s;
    .window = 5;
    .threshold = 3;
}

backend pypipin1 {
    .host = "127.0.0.1";
    .port = "8881";
    .probe = health;
}

backend pypipin2 {
    .host = "127.0.0.1";
    .port = "8882";
    .probe = health;
}

sub vcl_init {
    new daemons = directors.round_robin();
    daemons.add_backend(pypipin1);
    daemons.add_backend(pypipin2);
}

sub vcl_recv {
    set req.backend_hint = daemons.backend();
    call pypipin_recv;
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_backend_response {
    call pypipin_backend_response;
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
