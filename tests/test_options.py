"""Options: defaults, PYPIPIN_* environment twins, validation, secret files."""

import re
from pathlib import Path

import pytest
from twisted.python import usage

from pypipin.store.connection import address
from tests.support.stack import parsed


def test_defaults() -> None:
    options = parsed()
    assert (options["port"], options["redis"], options["pypi-ttl"], options["stats-ttl"]) == (
        "tcp:8888",
        "redis://127.0.0.1:6379/0",
        600,
        3600,
    )
    assert (options["upstream-timeout"], options["renderer-port"], options["stale-ttl"]) == (5.0, 0, 604800)


def test_environment_twins_and_the_command_line_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYPIPIN_PYPI_TTL", "120")
    monkeypatch.setenv("PYPIPIN_REDIS", "none")
    monkeypatch.setenv("PYPIPIN_PORT", "tcp:9000")
    options = parsed("--port", "tcp:9001")
    assert (options["pypi-ttl"], options["redis"], options["port"]) == (120, "none", "tcp:9001")


@pytest.mark.parametrize(
    "args",
    [
        ["--pypi-ttl", "0"],
        ["--redis", "mysql://x"],
        ["--redis", "redis+sentinel://127.0.0.1:26379"],
        ["--redis", "redis+sentinel://127.0.0.1/badges"],
        ["--renderer-port", "70000"],
        ["--log-format", "xml"],
        ["--upstream-timeout", "soon"],
    ],
)
def test_bad_values_are_refused(args: list[str]) -> None:
    with pytest.raises(usage.UsageError):
        parsed(*args)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--pypi-ttl", "abc"], "--pypi-ttl (env PYPIPIN_PYPI_TTL): 'abc' is not a positive whole number"),
        (["--stats-rate", "-1"], "--stats-rate (env PYPIPIN_STATS_RATE): '-1' is not a positive number"),
        (
            ["--renderer-port", "x"],
            "--renderer-port (env PYPIPIN_RENDERER_PORT): 'x' is not a TCP port number",
        ),
        (
            ["--metrics-allow", "10.0.0.0/33"],
            "--metrics-allow (env PYPIPIN_METRICS_ALLOW): '10.0.0.0/33' is not",
        ),
        (
            ["--redis-ca", "/no/such/file"],
            "--redis-ca (env PYPIPIN_REDIS_CA): '/no/such/file' is not a readable file",
        ),
    ],
)
def test_a_bad_value_names_the_option_and_its_environment_twin(
    args: list[str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(usage.UsageError, match=re.escape(named)):
        parsed(*args)
    monkeypatch.setenv("PYPIPIN_" + args[0][2:].upper().replace("-", "_"), args[1])
    with pytest.raises(usage.UsageError, match=re.escape(named)):
        parsed()


def test_metrics_networks_are_parsed_with_their_default_too() -> None:
    assert [str(n) for n in parsed()["metrics-allow"]] == ["127.0.0.1/32", "::1/128"]
    assert [str(n) for n in parsed("--metrics-allow", "10.0.0.0/8, 192.0.2.7")["metrics-allow"]] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
    ]


@pytest.mark.parametrize("option", ["--index-file", "--redis-password-file"])
def test_a_secret_file_open_to_group_or_others_is_refused(option: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("corp https://bot:Zq8-secret@corp.example/pypi\n")
    for mode in (0o644, 0o640, 0o604, 0o620):
        secret.chmod(mode)
        twin = "PYPIPIN_" + option[2:].upper().replace("-", "_")
        with pytest.raises(usage.UsageError) as refused:
            parsed(option, str(secret))
        said = str(refused.value)
        assert f"{option} (env {twin}): '{secret}' holds secrets but its mode is {mode:04o}" in said
        assert f"chmod 600 {secret}" in said and "\n" not in said and "Zq8-secret" not in said
    for mode in (0o600, 0o400):
        secret.chmod(mode)
        assert parsed(option, str(secret))[option[2:]] == str(secret)


def test_systemd_credentials_are_taken_whatever_their_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoadCredential= files may carry an ACL (mode 0440): their directory is the service's alone."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for folder in (credentials, tmp_path):
        (folder / "indexes").write_text("corp https://bot:Zq8-secret@corp.example/pypi\n")
        (folder / "indexes").chmod(0o440)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert parsed("--index-file", str(credentials / "indexes"))["indexes"]["corp"].headers
    with pytest.raises(usage.UsageError, match="chmod 600"):
        parsed("--index-file", str(tmp_path / "indexes"))


def test_an_empty_password_file_leaves_the_urls_password(tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("")
    assert address("redis://:from-url@127.0.0.1:6380/1", str(secret)).password == "from-url"
    assert address("redis://127.0.0.1:6380/1", str(secret)).password is None
    secret.write_text("from-file\n")
    assert address("redis://:from-url@127.0.0.1:6380/1", str(secret)).password == "from-file"
