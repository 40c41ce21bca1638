"""CircuitsVis views that work offline. CircuitsVis's own display (``_repr_html_``) first tries
an outbound request and then loads its code from a CDN, and ``str()`` of a view is CDN code; its
``local_src`` has the ~1.3 MB bundle inlined. ``offline(view)`` shows exactly that, and the
session's helpers build CircuitsVis views from the live run."""

from __future__ import annotations

from typing import Any

from transpector.errors import TranspectorError


def offline(view: Any) -> Any:
    """A CircuitsVis view (what ``circuitsvis.attention.attention_heads(...)`` and the like
    return) as notebook output with its code inlined: no CDN, no network."""
    from IPython.display import HTML

    source = getattr(view, "local_src", None)
    if not isinstance(source, str):
        raise TranspectorError(
            f"offline() takes a CircuitsVis view (it has .local_src), not {type(view).__name__}"
        )
    return HTML(source)  # type: ignore[no-untyped-call]


def _circuitsvis() -> Any:
    try:
        import circuitsvis
    except ImportError:
        raise TranspectorError(
            "CircuitsVis is not installed: pip install circuitsvis (or transpector[circuitsvis])"
        ) from None
    return circuitsvis


class CircuitsVisMethods:
    """Mixed into Session, which provides node data and the run's tokens."""

    def node_data(self, node_id: str, what: str | None = None, prompt: str | None = None) -> Any:
        raise NotImplementedError

    def run(self, prompt: str | None = None, *, top_k: int = 10, lens: bool = True) -> Any:
        raise NotImplementedError

    def circuitsvis_attention(self, layer: int, prompt: str | None = None) -> Any:
        """Layer ``layer``'s attention heads on ``prompt`` (default: the session's), with the
        interventions applied, as CircuitsVis's ``attention_heads`` view, offline."""
        pattern = self.node_data(f"L{layer}.attn", "pattern", prompt=prompt)  # [head, q, k]
        tokens = self.run(prompt, top_k=1, lens=False).tokens
        names = [f"L{layer}.H{h}" for h in range(pattern.shape[0])]
        view = _circuitsvis().attention.attention_heads(
            attention=pattern, tokens=tokens, attention_head_names=names
        )
        return offline(view)
