"""The reliability suites run against the same real parts as tests/server: a Jupyter server
with the extension, a real kernel with an attached tiny model, the proxy and the kernel app.
Its fixtures are tests/server's, one server per package."""

import pytest

from tests.server.conftest import *  # noqa: F403


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", default=False, help="run the reliability suites at length"
    )
