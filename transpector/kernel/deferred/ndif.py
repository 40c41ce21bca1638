"""``session.trace(..., remote=True)``: the trace runs on NDIF through nnsight's own
``RemoteBackend``.

Host and key are nnsight's: ``CONFIG.API.HOST`` (``NDIF_HOST``) and ``CONFIG.API.APIKEY``
(``NDIF_API_KEY``, or ``nnsight.CONFIG.set_default_api_key``), read when the trace is made. Before
anything is sent: no key is refused, and the host must accept a connection within 2 s (nnsight's
client waits 10 s to connect, and forever on a websocket). nnsight's own models ask the model
hub for the canonical name in their model key; this key carries the name the model was loaded
by and asks nobody (offline, the hub's answer would come only after its retries).
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import websocket
from nnsight.intervention.backends.remote import RemoteBackend, RemoteError
from nnsight.schema.config import CONFIG
from nnsight.util import to_import_path

from transpector.errors import TranspectorError
from transpector.kernel.deferred.remote import transpector_by_value

CONNECT_S = 2.0


def model_key(model: Any) -> str:
    """The model key a request names its model by: ``import.path.Class:{"repo_id": ...}``, as
    nnsight writes keys, for the bridge class and the name its config gives (no hub call)."""
    name = str(getattr(model.cfg, "model_name", "") or "model")
    return f"{to_import_path(type(model))}:{json.dumps({'repo_id': name, 'revision': None})}"


def remote_backend(model: Any, blocking: bool) -> RemoteBackend:
    """nnsight's backend for NDIF at the configured host, once a key is set and the host
    answers; a clear error otherwise, with nothing sent."""
    key = CONFIG.API.APIKEY
    if not key:
        raise TranspectorError(
            "remote=True needs an NDIF API key: set NDIF_API_KEY before importing nnsight, or "
            "call nnsight.CONFIG.set_default_api_key('...'); nothing was sent"
        )
    host = str(CONFIG.API.HOST)
    reachable(host)
    return SessionRemote(model_key(model), host=host, api_key=key, blocking=blocking)


def reachable(host: str) -> None:
    """A TCP connection to ``host`` within ``CONNECT_S`` seconds, or a clear error."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TranspectorError(f"the NDIF host {host!r} is not an http(s) address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_S):
            pass
    except OSError as error:
        raise TranspectorError(
            f"cannot reach NDIF at {host} ({error.strerror or error}); check NDIF_HOST / "
            "nnsight.CONFIG.API.HOST and the network; nothing was sent"
        ) from None


class SessionRemote(RemoteBackend):  # type: ignore[misc]
    """nnsight's ``RemoteBackend``, with Transpector's classes sent by value (a server does not
    have Transpector) and its failures as one ``TranspectorError``."""

    def __call__(self, tracer: Any = None) -> Any:
        try:
            with transpector_by_value():
                return super().__call__(tracer)
        except websocket.WebSocketBadStatusException as error:
            raise TranspectorError(
                f"NDIF at {self.host} refused the connection (HTTP {error.status_code}): check "
                "the API key (NDIF_API_KEY / nnsight.CONFIG.API.APIKEY)"
            ) from None
        except RemoteError as error:
            raise TranspectorError(f"the NDIF job at {self.host} failed: {error}") from None
        except (OSError, httpx.HTTPError, websocket.WebSocketException) as error:
            raise TranspectorError(
                f"the connection to NDIF at {self.host} failed: {error}"
            ) from None
