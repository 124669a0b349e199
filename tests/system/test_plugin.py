"""The twistd plugin and scripts/run as a user meets them: options named in one line, the plugin listed."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from pypipin.renderer.process import free_port
from tests.support.processes import ROOT, TWISTD, wait_for_port


@pytest.mark.processes
def test_twistd_says_which_option_is_wrong() -> None:
    result = subprocess.run([TWISTD, "-n", "pypipin", "--cache-mb", "lots"], capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    assert (
        "--cache-mb (env PYPIPIN_CACHE_MB): 'lots' is not a positive whole number"
        in result.stderr + result.stdout
    )


@pytest.mark.processes
def test_plugin_is_listed_and_documents_the_environment() -> None:
    listing = subprocess.run([TWISTD, "--help"], capture_output=True, text=True, check=True).stdout
    assert "pypipin" in listing
    help_text = subprocess.run(
        [TWISTD, "pypipin", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--stats-url" in help_text and "PYPIPIN_STATS_URL" in help_text


@pytest.mark.processes
def test_run_script_passes_options_through() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "run"), "--help"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--upstream-timeout" in result.stdout and "PYPIPIN_REDIS" in result.stdout


@pytest.mark.processes
def test_twistd_refuses_to_start_with_an_index_file_others_can_read(tmp_path: Path) -> None:
    listed = tmp_path / "indexes"
    listed.write_text("corp https://bot:Zq8-secret@corp.example/pypi\n")
    listed.chmod(0o644)
    result = subprocess.run(
        [TWISTD, "-n", "--pidfile=", "pypipin", "--redis", "none", "--index-file", str(listed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = result.stderr + result.stdout
    assert result.returncode != 0 and "Traceback" not in said and "Zq8-secret" not in said
    assert (
        f"'{listed}' holds secrets but its mode is 0644, open to group or others: run chmod 600 {listed}"
        in said
    )


@pytest.mark.processes
def test_twistd_listens_on_a_bare_port_and_says_what_is_wrong_with_a_bad_one_in_one_line() -> None:
    port = free_port()
    daemon = subprocess.Popen(
        [
            TWISTD,
            "-n",
            "--pidfile=",
            "--logfile",
            os.devnull,
            "pypipin",
            "--redis",
            "none",
            "--access-log",
            "none",
            "--port",
            str(port),
        ],
        cwd=tempfile.gettempdir(),
    )
    try:
        wait_for_port(port)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    result = subprocess.run(
        [TWISTD, "-n", "--pidfile=", "pypipin", "--redis", "none", "--port", "8899x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in said
    # twistd prints its usage, then the one line of the error, as for any bad option
    assert [line for line in said.splitlines() if "8899x" in line] == [said.splitlines()[-1]]
    assert said.splitlines()[-1].endswith(
        "--port (env PYPIPIN_PORT): '8899x' is not a port number or strports description "
        "(Unknown endpoint type: '8899x')"
    )
