"""The three new badges and shields.io's frameworks, served by a real daemon in both URL forms."""

import json

import pytest
import pytest_twisted

from tests.support import documents
from tests.support.fakepypi import FakeUpstream
from tests.support.loopback import get, svg_text

# package -> what vulnerabilities, free_threading and platforms say
EXPECTED = {
    "pycrypto": ("2 known", "no", "source only"),
    "numpy": ("none known", "wheels", "linux | macos | windows"),
    "ft-ext": ("none known", "beta", "linux | macos | windows"),
    "mobile-ext": ("none known", "no", "android | emscripten | freebsd | ios | linux | macos"),
}
ORIGINAL = ("vulnerabilities", "free_threading", "platforms")
SHIELDS = ("vulnerabilities", "freethreading", "platforms")
LABELS = ("vulnerabilities", "free-threading", "platforms")


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_new_badges_in_both_url_forms_from_one_fetch(upstream: FakeUpstream, start_daemon) -> None:
    for document in (
        documents.pycrypto(),
        documents.numpy(),
        documents.free_threaded(),
        documents.mobile_and_browser(),
    ):
        upstream.packages[document["info"]["name"]] = document
    daemon = await start_daemon().ready()
    for package, messages in EXPECTED.items():
        for original, shields, label, message in zip(ORIGINAL, SHIELDS, LABELS, messages, strict=True):
            response, body = await get(f"{daemon.url}/{original}/{package}/badge.svg")
            assert response.code == 200 and svg_text(body) == [label, message], (package, original)
            _, plain = await get(f"{daemon.url}/pypi/{shields}/{package}")
            assert plain == body, (package, shields)
            _, shown = await get(f"{daemon.url}/pypi/{shields}/{package}.json")
            assert (json.loads(shown)["label"], json.loads(shown)["message"]) == (label, message)
        assert upstream.requests[f"/pypi/{package}/json"] == 1  # every badge from the one document
    assert upstream.total("/api/") == 0


@pytest.mark.processes
@pytest_twisted.ensureDeferred
async def test_shields_frameworks_labels_and_404(upstream: FakeUpstream, start_daemon) -> None:
    upstream.add(
        "djangocms-text", classifiers=["Framework :: Django CMS :: 4.1", "Framework :: Django :: 4.2"]
    )
    upstream.add(
        "jupyterlab-git",
        classifiers=["Framework :: Jupyter :: JupyterLab :: 4", "Framework :: Jupyter :: JupyterLab :: 3"],
    )
    daemon = await start_daemon().ready()
    for path, text in [
        ("/pypi/frameworkversions/django-cms/djangocms-text", ["django cms versions", "4.1"]),
        ("/pypi/djversions/djangocms-text", ["django versions", "4.2"]),
        ("/djversions/djangocms-text/badge.svg", ["django versions", "4.2"]),
        ("/pypi/frameworkversions/jupyterlab/jupyterlab-git", ["jupyterlab versions", "3 | 4"]),
        (
            "/pypi/frameworkversions/aws-cdk/jupyterlab-git",
            ["versions", "AWS CDK versions are missing for jupyterlab-git"],
        ),
    ]:
        response, body = await get(daemon.url + path)
        assert response.code == 200 and svg_text(body) == text, path
    for path in (
        "/pypi/frameworkversions/flask/djangocms-text",
        "/pypi/frameworkversions/Django%20CMS/djangocms-text",
    ):
        response, _ = await get(daemon.url + path)
        assert response.code == 404, path
