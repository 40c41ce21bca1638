"""The Jupyter server extension: authenticated routes under /transpector/ (never imports torch)."""

from __future__ import annotations

from typing import Any

from transpector.server.handlers import handlers


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", handlers(base_url))
    serverapp.log.info("transpector: server extension loaded")
