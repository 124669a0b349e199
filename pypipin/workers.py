"""What each of N worker processes may use, so that the N together use what one daemon would."""

from dataclasses import replace

from pypipin.settings import Settings

NO_SHARED_CACHE = "{count} workers and no Redis (--redis none): the workers do not share caches, nor flights"


def share(settings: Settings) -> Settings:
    """One worker's settings: the connection caps and the renderer's slots divided by the number of
    workers (at least one each), and, with no Redis to hold them fleet-wide, the upstream rates and the
    clients' budgets too."""
    count = settings.workers.count
    if count == 1:
        return settings
    listener, renderer = settings.listener, settings.renderer
    shared = replace(
        settings,
        listener=replace(
            listener,
            client_connections=max(1, listener.client_connections // count),
            max_connections=max(1, listener.max_connections // count),
        ),
        renderer=replace(renderer, concurrency=max(1, renderer.concurrency // count)),
    )
    if settings.cache.redis_url is not None:
        return shared
    upstream, budgets = settings.upstream, settings.budgets
    return replace(
        shared,
        upstream=replace(
            upstream,
            pypi_per_minute=upstream.pypi_per_minute / count,
            pypi_burst=max(1, upstream.pypi_burst // count),
            stats_per_minute=upstream.stats_per_minute / count,
        ),
        budgets=replace(
            budgets,
            names_per_minute=budgets.names_per_minute / count,
            renders_per_minute=budgets.renders_per_minute / count,
            renders_per_second=budgets.renders_per_second / count,
        ),
    )
