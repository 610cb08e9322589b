"""Packaging for app-layer: `pip install -e .` gives the `app-layer` command."""
from setuptools import find_packages, setup

setup(
    name="app-layer",
    version="0.1.0",
    description="Heroku's workflow on Docker, with scheduling delegated to real cluster engines",
    packages=find_packages(include=["app_layer", "app_layer.*"]),
    include_package_data=True,
    package_data={"app_layer": ["api/templates/*.html", "api/static/*", "routing/*.lua", "builds/*.sh",
                                 "builds/buildpacks/driver", "builds/buildpacks/runtime/*",
                                 "builds/buildpacks/*/bin/*"]},
    python_requires=">=3.11",
    install_requires=[
        "Flask>=3.0,<4",
        "SQLAlchemy>=2.0,<3",
        "alembic>=1.13,<2",
        "marshmallow>=3.20,<5",
        "argon2-cffi>=23.1",
        "gunicorn>=27",  # per-worker SO_REUSEPORT sockets
        "click>=8.1",
        "requests>=2.31",
        "docker>=7.0",
        "cryptography>=42",
        "PyYAML>=6",
        "apispec>=6.3",
        "kazoo>=2.9",
        "etcd3gw>=2.4",
        "marathon==0.13.0",  # last release; its faults are worked around in backends/marathon_api.py
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "ruff>=0.5",
            "psycopg[binary]>=3.1",
            "openapi-spec-validator>=0.7",
            "schemathesis>=4",
            "websockets>=12",
            "jsonschema>=4.18",
            "playwright>=1.40",
        ],
    },
    entry_points={"console_scripts": ["app-layer=app_layer.cli.main:main"]},
)
