"""Transpector in the notebook itself: ``session.widget()`` (a compact live canvas) and
``session.show(view)`` (one of its views) as a notebook widget (anywidget, which JupyterLab,
Notebook 7, VS Code and Colab all render). The widget's front end is the canvas's own store and
React views, bundled with React into one ES module (``jlpm build:widget``); it talks to the
session over the kernel's comm channel with the same protocol messages (comm_bridge.py), so it
needs no port, no proxy and no network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from transpector.errors import TranspectorError
from transpector.kernel.targets import NEURON, resolve
from transpector.protocol.graph import GraphSpec

if TYPE_CHECKING:
    from transpector.kernel.session import Session

ASSETS = Path(__file__).parent / "widget_assets"
# A view's name -> the canvas tool card it shows ("canvas" and "topk" and "attention" are the
# canvas's own parts).
VIEWS = {
    "canvas": "", "topk": "", "attention": "", "lens": "logit_lens",
    "sweep": "activation_patching", "neuron": "neuron_view",
}  # fmt: skip


class WidgetMethods:
    """Mixed into Session."""

    graph: GraphSpec

    def widget(self) -> Any:
        """A compact live canvas in the cell's output: prompt, tokens, metric, next tokens,
        interventions and logit lens, in step with this session both ways."""
        return self.show("canvas")

    def show(self, view: str = "canvas", node: str | None = None) -> Any:
        """One live view as the cell's output: ``"canvas"`` (compact), ``"topk"``, ``"lens"``,
        ``"attention"`` (with ``node="L1.H3"``), ``"sweep"`` (activation patching), or
        ``"neuron"`` (with ``node="L3.mlp.N5"``, or an MLP node)."""
        if view not in VIEWS:
            raise TranspectorError(f"no view {view!r}: choose one of {', '.join(VIEWS)}")
        if view == "attention" and node is None:
            raise TranspectorError('the attention view needs node=, e.g. node="L0.H1"')
        if node is not None and not (self.graph.has(node) or NEURON.fullmatch(node)):
            raise TranspectorError(f"unknown node {node!r}; node ids look like L0.H3, L2.mlp")
        if node is not None and NEURON.fullmatch(node):
            resolve(self.graph, node)  # a neuron the model has
        return make_widget(self, view, node)  # type: ignore[arg-type]


def make_widget(session: Session, view: str, node: str | None) -> Any:
    from transpector.kernel.serving import serve_in_kernel

    running = serve_in_kernel(session)
    if running is None:
        raise TranspectorError("the widget runs in a Jupyter kernel: call it from a notebook cell")
    if not (ASSETS / "widget.js").is_file():
        raise TranspectorError(
            f"the widget's bundle is not built ({ASSETS / 'widget.js'}): run `jlpm build:widget`"
            " (make install does)"
        )
    return _widget_class()(running, view=view, node=node or "", card=VIEWS[view])


def _widget_class() -> type:
    """The widget class, defined on first use (anywidget and ipywidgets load only then)."""
    global _WIDGET
    if _WIDGET is not None:
        return _WIDGET
    import anywidget
    import traitlets

    from transpector.kernel.comm_bridge import CommBridge

    class TranspectorWidget(anywidget.AnyWidget):
        _esm = ASSETS / "widget.js"
        _css = ASSETS / "widget.css"
        view = traitlets.Unicode("canvas").tag(sync=True)
        node = traitlets.Unicode("").tag(sync=True)
        card = traitlets.Unicode("").tag(sync=True)

        def __init__(self, running: Any, **traits: Any) -> None:
            super().__init__(**traits)
            self._bridge = CommBridge(
                running.hub, running.app, running.token, self._send_frame, running.loop
            )
            self.on_msg(lambda _widget, content, _buffers: self._bridge.receive(content))

        def _send_frame(self, content: dict[str, Any], buffers: list[bytes]) -> None:
            if self.comm is not None:
                self.send(content, buffers=buffers or None)

        def close(self) -> None:
            self._bridge.close()
            super().close()

    _WIDGET = TranspectorWidget
    return _WIDGET


_WIDGET: type | None = None
