"""transpector.attach(model): the one Session of a live model (the same object every call)."""

from __future__ import annotations

import os
from typing import Any

from transpector.kernel.serving import serve_in_kernel
from transpector.kernel.session import Session

_sessions: dict[int, Session] = {}


def attach(model: Any, state_file: str | os.PathLike[str] | None = None) -> Session:
    """The Session of ``model``, created on first call. With ``state_file`` the state is loaded
    from that JSON file when it exists and saved to it after every change.

    Inside a Jupyter kernel this also starts the kernel app (once) on the kernel's event loop,
    so the browser, through the Jupyter server, acts on this very session."""
    session = _sessions.get(id(model))
    if session is None or session.model is not model:
        session = _sessions[id(model)] = Session(model, state_file=state_file)
    serve_in_kernel(session)
    return session
