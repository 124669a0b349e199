import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'^__version__ = "([^"]+)"$', (HERE / "pypipin" / "__init__.py").read_text(), re.M).group(
    1
)

setup(
    name="pypipin",
    version=VERSION,
    description="PyPI badges as a self-hosted Twisted service: the revival of pypip.in",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=[*find_packages(include=["pypipin", "pypipin.*"]), "twisted.plugins"],
    package_data={
        "pypipin.renderer": ["shields/package.json", "shields/package-lock.json", "shields/*.js"],
        "pypipin.web": ["static/*"],
        "twisted.plugins": ["pypipin_plugin.py"],
    },
    entry_points={"console_scripts": ["pypipin = pypipin.command:main"]},
    install_requires=[
        "twisted[tls]>=24.7,<27",
        "treq>=24.9,<27",
        "txredisapi>=1.4.10,<2",
        "klein>=24.8,<27",
        "packaging>=24.2,<27",
        "prometheus_client>=0.20,<1",
        "msgspec>=0.18,<1",
        "defusedxml>=0.7.1,<1",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-twisted>=1.14,<2",
            "hypothesis>=6,<7",
            "schemathesis>=4,<5",  # tests/system/test_openapi.py: the OpenAPI document against the daemon
            "pillow>=10,<14",
            "selenium>=4.20,<5",
            "supervisor>=4.2,<5",
            "build>=1.2,<2",
            "chdb>=4,<5",  # ClickHouse in-process, behind tests/support/clickhouse.py's HTTP interface
            # checked types and style (scripts/test runs them before pytest)
            "mypy>=1.15,<2.5",
            "mypy-zope>=1.0.9,<2",
            "types-defusedxml>=0.7,<1",
            "ruff>=0.9,<1",
        ],
    },
    zip_safe=False,
)
