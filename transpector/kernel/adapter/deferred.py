"""What the deferred (nnsight) API needs from the bridge: hook points and modules by name, with
errors that say what exists, the order hook points run in, and the padding token. Part of the
adapter: it reads the bridge's module tree and hook points."""

from __future__ import annotations

import difflib
from typing import Any

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter.nnsight_runtime import module_paths


class BridgePoints:
    """The bridge's hook points and modules, looked up by TransformerLens name or dotted path."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.paths = module_paths(model)
        self._order: dict[str, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """In a request: the model by nnsight's persistent id (``Module:model``); the paths are
        found again on the far side, where the modules are others."""
        self.model.__dict__["_persistent_id"] = "Module:model"
        return {"model": self.model, "_order": self._order}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"])  # type: ignore[misc]
        self._order = state["_order"]

    def point(self, name: str) -> Any:
        """The hook point ``name`` (e.g. ``blocks.0.attn.hook_z``); an error naming near ones."""
        if not isinstance(name, str):
            raise TranspectorError(f"a hook point is named by a string, not {name!r}")
        point = self.model.hook_dict.get(name)
        if point is None:
            near = difflib.get_close_matches(name, list(self.model.hook_dict), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise TranspectorError(
                f"this model has no hook point {name!r} ({self.model.cfg.n_layers} layers; "
                f"e.g. blocks.0.hook_resid_pre, blocks.0.attn.hook_z){hint}"
            )
        return point

    def path_of(self, name: str) -> str:
        """The dotted module path of hook point ``name``."""
        return self.paths[id(self.point(name))]

    def names_at(self, path: str) -> list[str]:
        """The TransformerLens names of the hook point at module ``path`` (specific ones first)."""
        names = [n for n, p in self.model.hook_dict.items() if self.paths.get(id(p)) == path]
        return sorted(names, key=lambda n: n.endswith((".hook_in", ".hook_out")))

    def module_path(self, path: str) -> str:
        """``path`` when the model has a module there; an error naming near ones."""
        if not isinstance(path, str):
            raise TranspectorError(f"a module is named by a dotted path, not {path!r}")
        try:
            self.model.get_submodule(path)
        except AttributeError:
            known = [p for p in self.paths.values() if "_original_component" not in p]
            near = difflib.get_close_matches(path, known, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise TranspectorError(f"this model has no module {path!r}{hint}") from None
        return path

    def order(self) -> dict[str, int]:
        """Each TransformerLens hook name's rank in a forward (names of one point share it), from
        one short forward, once: nnsight needs values read in the order the model makes them."""
        if self._order is None:
            ranks: dict[int, int] = {}
            handles = []
            points = {id(p): p for p in self.model.hook_dict.values()}
            for key, point in points.items():

                def seen(*_: Any, key: int = key) -> None:
                    ranks.setdefault(key, len(ranks))

                handles.append(point.register_forward_hook(seen))
            try:
                with torch.no_grad():
                    self.model(self.model.to_tokens("a"))
            finally:
                for handle in handles:
                    handle.remove()
            last = len(ranks)
            self._order = {n: ranks.get(id(p), last) for n, p in self.model.hook_dict.items()}
        return self._order

    def pad_id(self) -> int:
        """The token id left padding uses (the tokenizer's pad token, else end of text, else 0)."""
        tokenizer = self.model.tokenizer
        for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
            if token_id is not None:
                return int(token_id)
        return 0
