"""The Session's export: the current view (graph with interventions, outputs, logit lens, the
tools last run and their results, notes) as one self-contained, read-only HTML file. Its data is
JSON inside the page and its reader a small script shipped in this package (export_assets/),
so it opens offline in any browser, with no server and no network."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from transpector._version import __version__
from transpector.errors import TranspectorError
from transpector.kernel.run_context import RunContext
from transpector.kernel.tools import tool_named
from transpector.protocol.experiments import SavedToolCall
from transpector.protocol.graph import GraphSpec
from transpector.protocol.messages import RunSummary
from transpector.protocol.state import SessionState

ASSETS = Path(__file__).parent / "export_assets"
# Nothing may be fetched: the page's own inline style and script are all it runs.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<noscript>This view needs JavaScript to draw; its data is the JSON below.</noscript>
<script type="application/json" id="transpector-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


class ExportMethods:
    """Mixed into Session, which provides the state, the graph, runs and the tools' log."""

    _state: SessionState
    graph: GraphSpec

    def context(self, prompt: str | None = None, keep: bool = True) -> RunContext:
        raise NotImplementedError

    def saved_tool_calls(self) -> list[SavedToolCall]:
        raise NotImplementedError

    def summary(self, context: RunContext, request_id: str = "", top_k: int = 10) -> RunSummary:
        raise NotImplementedError

    def export_html(self, path: str | os.PathLike[str]) -> Path:
        """Write the current view to ``path`` as one HTML file that opens offline, read-only:
        the graph with the interventions, the outputs, the logit lens, the tools last run with
        their results (a sweep as a heatmap) and the notes. Returns the path written."""
        target = Path(path).expanduser()
        if target.is_dir():
            raise TranspectorError(
                f"{target} is a folder: give a file name, e.g. {target / 'view.html'}"
            )
        html = self.view_html()
        folder = target.parent if str(target.parent) else Path(".")
        try:
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=folder, prefix=f".{target.name}.", delete=False
            ) as partial:
                partial.write(html)
            Path(partial.name).replace(target)
        except OSError as error:
            raise TranspectorError(f"cannot write {target}: {error.strerror or error}") from None
        return target.resolve()

    def view_html(self) -> str:
        """The exported view as an HTML text (what ``export_html`` writes)."""
        return render_html(self.view_data())

    def view_data(self) -> dict[str, Any]:
        """What the exported view draws, as JSON-ready data."""
        context = self.context()
        lens_tool = tool_named("logit_lens")
        assert lens_tool.compute is not None
        lens: BaseModel = lens_tool.compute(context, lens_tool.contract.args())
        return {
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "transpector_version": __version__,
            "graph": self.graph.model_dump(mode="json"),
            "state": self._state.model_dump(mode="json"),
            "run": self.summary(context).model_dump(mode="json"),
            "lens": lens.model_dump(mode="json"),
            "tools": [call.model_dump(mode="json") for call in self.saved_tool_calls()],
        }


def render_html(data: dict[str, Any]) -> str:
    # JSON in a script element: "<" escaped, so no "</script>" or "<!--" can end it early.
    text = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    title = f"Transpector · {data['graph']['model_name']} · version {data['state']['version']}"
    return TEMPLATE.format(
        policy=POLICY,
        title=escape(title),
        css=(ASSETS / "viewer.css").read_text(encoding="utf-8"),
        js=(ASSETS / "viewer.js").read_text(encoding="utf-8"),
        data=text,
    )
