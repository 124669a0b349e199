"""What each of N worker processes may use, so that the N together use what one daemon would."""

from dataclasses import replace

from pypipin.settings import Settings

NO_SHARED_CACHE = "{count} workers and no Redis (--redis none): the workers do not share caches, nor flights"


def share(settings: Settings) -> Settings:
    """One worker's settings: the connection caps, node's render slots and its renders a second divided
    by the number of workers (at least one each). The upstream rates and the clients' budgets stay
    whole: they are the fleet's buckets, in Redis, and each worker counts as one of the fleet (its
    in-process buckets, with no Redis or while it is unreachable, are at a fleet's share of them)."""
    count = settings.workers.count
    if count == 1:
        return settings
    listener, renderer, budgets = settings.listener, settings.renderer, settings.budgets
    return replace(
        settings,
        listener=replace(
            listener,
            client_connections=max(1, listener.client_connections // count),
            max_connections=max(1, listener.max_connections // count),
        ),
        renderer=replace(renderer, concurrency=max(1, renderer.concurrency // count)),
        budgets=replace(budgets, renders_per_second=budgets.renders_per_second / count),
    )
