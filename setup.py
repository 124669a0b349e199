from setuptools import setup

setup(
    name="pypipin",
    version="0.1.0",
    description="PyPI badges as a self-hosted Twisted service: the revival of pypip.in",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=["pypipin", "twisted.plugins"],
    package_data={
        "pypipin": ["shields/package.json", "shields/package-lock.json", "shields/*.js", "static/*"],
        "twisted.plugins": ["pypipin_plugin.py"],
    },
    install_requires=[
        "twisted>=24.7",
        "treq>=24.9",
        "txredisapi>=1.4.10",
        "klein>=24.8",
        "packaging>=24.2",
        "prometheus_client>=0.20",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-twisted>=1.14", "hypothesis>=6", "pillow>=10", "selenium>=4.20", "supervisor>=4.2"],
    },
    zip_safe=False,
)
