"""Tornado handlers of the server extension. Every one is @authenticated and authorized."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from transpector._version import __version__
from transpector.protocol.listing import KernelInfo, ServerInfo
from transpector.server.login import LoginFirst
from transpector.server.sessions import running_kernels


class InfoHandler(LoginFirst, APIHandler):
    """GET /transpector/info: the installed version and the running kernels."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        kernels = [
            KernelInfo(
                id=model["id"],
                name=model["name"],
                execution_state=model.get("execution_state", "unknown"),
            )
            for model in await running_kernels(self.kernel_manager)
        ]
        self.finish(ServerInfo(version=__version__, kernels=kernels).model_dump_json())


def handlers(base_url: str) -> list[tuple[str, Any]]:
    """Every route of the extension (the auth test walks them all: each must refuse strangers)."""
    from transpector.server.proxy import proxy_handlers
    from transpector.server.sessions import SessionsHandler

    return [
        (url_path_join(base_url, "transpector", "info"), InfoHandler),
        (url_path_join(base_url, "transpector", "sessions"), SessionsHandler),
        *proxy_handlers(base_url),
    ]
