"""pypipin.workers in memory: what each of N workers may use adds up to what one daemon does."""

import os
from dataclasses import replace

import pytest
from twisted.python import usage

from pypipin.options import Options
from pypipin.settings import Settings, WorkerSettings
from pypipin.workers import share


def settings(*arguments: str) -> Settings:
    options = Options()
    options.parseOptions(["--workers", "1", *arguments])
    return Settings.from_options(options)


def of(count: int, given: Settings) -> Settings:
    return replace(given, workers=WorkerSettings(count, ()))


def test_one_worker_uses_everything() -> None:
    given = settings("--redis", "none")
    assert share(given) is given


@pytest.mark.parametrize("count", [2, 3, 4])
def test_connection_caps_and_renderer_slots_add_up_to_no_more_than_the_daemons(count: int) -> None:
    given = settings("--max-connections", "1000", "--client-connections", "64", "--render-concurrency", "8")
    each = share(of(count, given))
    assert given.listener.max_connections - count < each.listener.max_connections * count
    assert each.listener.max_connections * count <= given.listener.max_connections
    assert each.listener.client_connections * count <= given.listener.client_connections
    assert each.renderer.concurrency * count <= given.renderer.concurrency
    assert each.renderer.concurrency >= 1


def test_a_worker_keeps_one_connection_and_one_slot_at_least() -> None:
    each = share(of(8, settings("--client-connections", "2", "--render-concurrency", "2")))
    assert (each.listener.client_connections, each.renderer.concurrency) == (1, 1)


@pytest.mark.parametrize("redis", ["none", "redis://127.0.0.1:1/0"])
def test_upstream_rates_and_client_budgets_are_left_to_the_fleet_buckets(redis: str) -> None:
    given = settings("--redis", redis, "--pypi-rate", "4", "--stats-rate", "12", "--client-names", "60")
    each = share(of(2, given))
    assert each.upstream == given.upstream
    assert (each.budgets.names_per_minute, each.budgets.renders_per_minute) == (
        given.budgets.names_per_minute,
        given.budgets.renders_per_minute,
    )


def test_nodes_renders_a_second_are_divided() -> None:
    given = settings("--global-renders", "60")
    assert share(of(3, given)).budgets.renders_per_second * 3 == pytest.approx(60)


def test_auto_is_the_cpus_this_process_may_use() -> None:
    options = Options()
    options.parseOptions(["--workers", "auto"])
    assert options["workers"] == len(os.sched_getaffinity(0))


def test_the_default_is_auto_and_a_worker_is_given_the_command_line_again() -> None:
    options = Options()
    options.parseOptions(["--redis", "none"])
    given = Settings.from_options(options)
    assert given.workers == WorkerSettings(len(os.sched_getaffinity(0)), ("--redis", "none"))


def test_auto_is_one_worker_on_a_port_workers_cannot_share() -> None:
    options = Options()
    options.parseOptions(["--port", "unix:/tmp/pypipin.sock"])
    assert options["workers"] == 1


def test_more_than_one_worker_needs_a_tcp_port() -> None:
    with pytest.raises(usage.UsageError, match="tcp:"):
        Options().parseOptions(["--workers", "2", "--port", "unix:/tmp/pypipin.sock"])
