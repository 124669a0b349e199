"""What the tests and the benchmarks share (``tests.support.<module>``; no test module imports another).

- fakepypi: a fake PyPI JSON API and pypistats API (a Twisted web server)
- documents: PyPI documents of real packages' shapes
- stack: the whole app in memory (Stack, FakeRenderer), the badge names and classifiers
- processes: real processes (RedisServer, Daemon, Varnish, HAProxy, FakeUpstreamProcess, wait_for_*)
- loopback: requests to real daemons over loopback (get, get_from, raw_get_from), sleep, svg_text
- hostile: hostile inputs (hypothesis strategies, /metrics targets, the upstream paths allowed)
- logos: real and hostile logos
"""
