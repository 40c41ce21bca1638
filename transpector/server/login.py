"""Jupyter's login before anything else, on every route of the extension."""

from __future__ import annotations

from jupyter_server.base.handlers import JupyterHandler
from tornado import web


class LoginFirst(JupyterHandler):
    """Refuse a request without Jupyter's login (403) before the handler says anything else.

    Tornado answers a method a handler lacks (HEAD, or POST on a GET route) with 405 before any
    login check, telling a stranger which methods a route has; with this mixin first in the
    bases, every method of every Transpector route refuses strangers alike. A method marked
    ``@allow_unauthenticated`` stays open: jupyter_server's CORS preflight (OPTIONS on API
    routes), which browsers send without credentials and which answers headers only."""

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self._finished or self.current_user:
            return
        method = getattr(self, (self.request.method or "").lower(), None)
        if not getattr(method, "__allow_unauthenticated", False):
            raise web.HTTPError(403)
