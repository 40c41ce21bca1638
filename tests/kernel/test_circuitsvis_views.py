"""CircuitsVis offline: the session's attention view carries the model's own patterns (checked
against run_with_cache) in CircuitsVis's inlined bundle, no CDN is named and no request is made
while building it, and what is not a CircuitsVis view is refused."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest
import torch

from transpector import TranspectorError, offline
from transpector.kernel.session import Session

RENDER = re.compile(r'CircuitsVis\.render\(\s*"[^"]+",\s*CircuitsVis\.(\w+),\s*(\{.*\})\s*\)', re.S)


def test_attention_heads_offline_with_the_model_s_patterns(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[Any] = []
    real = urllib.request.urlopen

    def watched(*args: Any, **kwargs: Any) -> Any:  # records, then does what it always does
        requests.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", watched)
    session.ablate("L0.H2")
    html = session.circuitsvis_attention(1).data
    assert requests == []
    assert "unpkg" not in html and re.search(r"(from|import)\s*\(?\s*[\"']https?:", html) is None
    found = RENDER.search(html)
    assert found is not None and found.group(1) == "AttentionHeads"
    props = json.loads(found.group(2))

    def zero_head(z: torch.Tensor, hook: object) -> torch.Tensor:
        z = z.clone()
        z[:, :, 2] = 0
        return z

    model = session.model
    with torch.no_grad(), model.hooks(fwd_hooks=[("blocks.0.attn.hook_z", zero_head)]):
        _, cache = model.run_with_cache(model.to_tokens("hello world"))
    expected = cache["blocks.1.attn.hook_pattern"][0]
    assert torch.allclose(torch.tensor(props["attention"]), expected, atol=1e-6)
    assert props["tokens"] == model.to_str_tokens("hello world")
    assert props["attentionHeadNames"] == [f"L1.H{h}" for h in range(4)]


def test_offline_refuses_what_is_not_a_circuitsvis_view() -> None:
    with pytest.raises(TranspectorError, match=r"takes a CircuitsVis view .* not str"):
        offline("<div>")
