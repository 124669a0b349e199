# Varnish 7 in front of one pypipin daemon (pypip.in ran this way at a 10:1 hit:miss ratio).
# Edit the backend's host and port below; copy this file and varnish-badges.vcl (which it
# includes) into one folder, e.g. /etc/varnish/; run: varnishd -a :80 -f /etc/varnish/varnish.vcl
vcl 4.1;

backend pypipin {
    .host = "127.0.0.1";
    .port = "8888";
    .connect_timeout = 1s;
    .first_byte_timeout = 15s;
    .probe = {
        .url = "/health";
        .interval = 5s;
        .timeout = 2s;
        .window = 5;
        .threshold = 3;
    }
}

include "./varnish-badges.vcl";

sub vcl_recv {
    call pypipin_recv;
    # badges depend on the URL alone
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
