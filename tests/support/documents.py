"""PyPI documents of the shapes the new badges read, modelled on real packages.

Every document has all the keys of ``GET https://pypi.org/pypi/<name>/json`` (built by
``fakepypi.pypi_document``); the latest release's files carry real-looking wheel file names.
The packages named after real ones (pycrypto, numpy, requests) follow their published
metadata as far as the badges read it; vulnerability ids and exact file lists are
illustrative, not copies.
"""

from typing import Any

from tests.support.fakepypi import pypi_document, release_file


def with_files(document: dict[str, Any], filenames: list[str]) -> dict[str, Any]:
    """``document`` with its latest release's files (``urls``) replaced by these file names."""
    name, version = document["info"]["name"], document["info"]["version"]
    files = []
    for filename in filenames:
        wheel = filename.endswith(".whl")
        entry = release_file(name, version, "bdist_wheel" if wheel else "sdist")
        python = filename.split("-")[-3] if wheel else "source"
        entry.update(
            filename=filename,
            python_version=python,
            url=f"https://files.pythonhosted.org/packages/ab/cd/{filename}",
        )
        files.append(entry)
    document["urls"] = files
    document["releases"][version] = files
    return document


def vulnerability(ident: str, alias: str, withdrawn: str | None = None) -> dict[str, Any]:
    """One entry of a document's top-level ``vulnerabilities`` list, as PyPI writes it (from OSV)."""
    return {
        "aliases": [alias],
        "details": f"{alias}: a flaw in the latest release.",
        "fixed_in": [],
        "id": ident,
        "link": f"https://osv.dev/vulnerability/{ident}",
        "source": "osv",
        "summary": None,
        "withdrawn": withdrawn,
    }


def _cpython_wheels(name: str, version: str, abis: list[str], platforms: list[str]) -> list[str]:
    return [
        f"{name}-{version}-{abi.rstrip('t')}-{abi}-{platform}.whl" for abi in abis for platform in platforms
    ]


NUMPY_PLATFORMS = [
    "macosx_10_13_x86_64",
    "macosx_11_0_arm64",
    "macosx_14_0_arm64",
    "macosx_14_0_x86_64",
    "manylinux_2_27_aarch64.manylinux_2_28_aarch64",
    "manylinux_2_27_x86_64.manylinux_2_28_x86_64",
    "musllinux_1_2_aarch64",
    "musllinux_1_2_x86_64",
    "win32",
    "win_amd64",
    "win_arm64",
]


def pycrypto() -> dict[str, Any]:
    """pycrypto 2.6.1: source only, unmaintained, with known vulnerabilities."""
    document = pypi_document(
        "pycrypto",
        "2.6.1",
        classifiers=[
            "Development Status :: 5 - Production/Stable",
            "License :: Public Domain",
            "Programming Language :: Python :: 2",
            "Programming Language :: Python :: 3",
            "Topic :: Security :: Cryptography",
        ],
        packagetypes=("sdist",),
        requires_python=None,
    )
    document["vulnerabilities"] = [
        vulnerability("PYSEC-2017-94", "CVE-2013-7459"),
        vulnerability("PYSEC-2018-126", "CVE-2018-6594"),
    ]
    return document


def numpy() -> dict[str, Any]:
    """numpy 2.3: free-threaded wheels (cp313t, cp314t) but no Free Threading classifier."""
    document = pypi_document(
        "numpy",
        "2.3.1",
        classifiers=[
            "Development Status :: 5 - Production/Stable",
            "Programming Language :: Python :: 3.11",
            "Programming Language :: Python :: 3.12",
            "Programming Language :: Python :: 3.13",
            "Programming Language :: Python :: 3.14",
            "Programming Language :: Python :: Implementation :: CPython",
            "Typing :: Typed",
        ],
        license_expression="BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0",
        requires_python=">=3.11",
    )
    wheels = _cpython_wheels(
        "numpy", "2.3.1", ["cp311", "cp312", "cp313", "cp313t", "cp314", "cp314t"], NUMPY_PLATFORMS
    )
    wheels += [
        "numpy-2.3.1-pp311-pypy311_pp73-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "numpy-2.3.1-pp311-pypy311_pp73-win_amd64.whl",
    ]
    return with_files(document, ["numpy-2.3.1.tar.gz", *wheels])


def free_threaded(stage: str = "2 - Beta") -> dict[str, Any]:
    """A C extension that declares its free-threading support with the classifier."""
    document = pypi_document(
        "ft-ext",
        "1.4.0",
        classifiers=[
            "Programming Language :: Python :: 3.13",
            "Programming Language :: Python :: 3.14",
            "Programming Language :: Python :: Free Threading :: 1 - Unstable",
            "Programming Language :: Python :: Free Threading :: " + stage,
        ],
    )
    wheels = _cpython_wheels(
        "ft_ext",
        "1.4.0",
        ["cp313", "cp313t", "cp314", "cp314t"],
        ["manylinux_2_17_x86_64.manylinux2014_x86_64", "macosx_11_0_arm64", "win_amd64"],
    )
    return with_files(document, ["ft_ext-1.4.0.tar.gz", *wheels])


def mobile_and_browser() -> dict[str, Any]:
    """A C extension with Android, iOS and Emscripten (Pyodide) wheels beside the usual ones."""
    document = pypi_document("mobile-ext", "0.9.0")
    wheels = _cpython_wheels(
        "mobile_ext",
        "0.9.0",
        ["cp313"],
        [
            "android_21_arm64_v8a",
            "android_21_x86_64",
            "ios_13_0_arm64_iphoneos",
            "ios_13_0_arm64_iphonesimulator",
            "pyodide_2024_0_wasm32",
            "emscripten_3_1_58_wasm32",
            "manylinux_2_17_x86_64.manylinux2014_x86_64",
            "macosx_11_0_arm64",
            "freebsd_14_0_release_amd64",
        ],
    )
    return with_files(document, ["mobile_ext-0.9.0.tar.gz", *wheels])


def requests() -> dict[str, Any]:
    """requests 2.32: one pure-Python wheel, nothing known against its latest release."""
    document = pypi_document(
        "requests",
        "2.32.5",
        classifiers=[
            "Development Status :: 5 - Production/Stable",
            "License :: OSI Approved :: Apache Software License",
            "Programming Language :: Python :: 3.9",
            "Programming Language :: Python :: 3.13",
        ],
    )
    return with_files(document, ["requests-2.32.5-py3-none-any.whl", "requests-2.32.5.tar.gz"])


def private_index(name: str = "internal-tool") -> dict[str, Any]:
    """What a private index (devpi, Artifactory, Nexus) serves: no ``vulnerabilities`` key."""
    document = with_files(pypi_document(name, "3.1.0"), [f"{name.replace('-', '_')}-3.1.0-py3-none-any.whl"])
    del document["vulnerabilities"]
    return document
