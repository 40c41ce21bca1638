"""The reliability suites run against the same real parts as tests/server: a Jupyter server
with the extension, a real kernel with an attached tiny model, the proxy and the kernel app.
Its fixtures are tests/server's, one server per package."""

from tests.server.conftest import *  # noqa: F403
