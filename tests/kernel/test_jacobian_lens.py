"""The Jacobian lens on a tiny 3-layer model: its grid equals TransformerLens's own
``JacobianLens.readout`` on the same fit, the fit equals TL's ``fit`` on the same prompts, the
disk cache is reused and cleared, a cancel leaves nothing behind, and bad input changes nothing.

The byte-level tokenizer makes one character one token, so the prompts a fit takes (windows of
``max_seq_len`` tokens: BOS and ``max_seq_len - 1`` characters) are known without the code under
test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformer_lens.tools.analysis import JacobianLens

from tests.conftest import boot_tiny
from transpector.errors import TranspectorError
from transpector.kernel import jacobian_cache
from transpector.kernel.session import Session
from transpector.kernel.tools import tool_named
from transpector.kernel.tools.base import Cancelled
from transpector.protocol.jacobian_lens import FitJacobianLensArgs
from transpector.protocol.lens import LogitLens

TEXT = "the quick brown fox jumps over the lazy dog; a lens reads it. "  # 62 characters
SEQ = 21  # BOS + 20 characters: 3 windows of TEXT
PROMPTS = [TEXT[i * 20 : (i + 1) * 20] for i in range(3)]
FIT = dict(n_prompts=3, max_seq_len=SEQ, skip_first_positions=2)
PROMPT = "over the lazy dog, quick"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return boot_tiny(tmp_path_factory.mktemp("jlens"), n_layers=3).eval()


@pytest.fixture
def session(model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("TRANSPECTOR_CACHE", str(tmp_path))
    s = Session(model)
    s.prompt = PROMPT
    return s


def lens_of(session: Session, **args: Any) -> LogitLens:
    n = int(session.model.to_tokens(PROMPT).shape[1])
    result = session.tools.logit_lens(positions=list(range(n)), **args)
    assert isinstance(result, LogitLens)
    return result


def test_the_fit_is_tls_fit_and_the_grid_is_tls_readout(session: Session, model: Any) -> None:
    info = session.fit_jacobian_lens([TEXT], **FIT)
    assert (info.n_prompts, info.source_layers) == (3, [0, 1])
    assert info.rows == ["L1.resid_pre", "L2.resid_pre"]
    expected = JacobianLens.fit(model, PROMPTS, corpus="t", max_seq_len=SEQ, skip_first_positions=2,
                                show_progress=False)  # fmt: skip
    held = session.jacobian_lens
    for layer in (0, 1):
        assert torch.allclose(held.jacobians[layer], expected.jacobians[layer], atol=1e-6)

    grid = lens_of(session, kind="jacobian")
    assert grid.kind == "jacobian" and grid.no_transport == ["L0.resid_pre"]
    assert grid.layers == ["L1.resid_pre", "L2.resid_pre", "L2.resid_post"]
    tokens = model.to_tokens(PROMPT)
    jl = held.readout(model, tokens, top_k=2)
    plain = held.readout(model, tokens, top_k=1, use_jacobian=False)
    for r, layer in enumerate((0, 1, 2)):  # row L{l}.resid_pre is block l-1's output
        top2 = jl.lens_topk_values[layer]
        clear = (top2[:, 0] - top2[:, 1]) > 1e-4  # ties may fall either way
        assert clear.sum() >= len(clear) - 1
        want = jl.lens_topk_indices[layer][:, 0]
        got = torch.tensor(grid.token_ids[r])
        assert torch.equal(got[clear], want[clear]), (r, got, want)
        assert grid.logit_token_ids is not None
        assert grid.logit_token_ids[r] == plain.lens_topk_indices[layer][:, 0].tolist()
    # the transport matters: somewhere the two lenses disagree
    assert grid.token_ids[:2] != grid.logit_token_ids[:2]
    cell = session.tools.lens_top_k(row="L1.resid_pre", position=-1, k=2, kind="jacobian")
    assert [t.id for t in cell.top_k] == jl.lens_topk_indices[0][-1, :2].tolist()


def test_interventions_apply_to_the_residuals_it_reads(session: Session, model: Any) -> None:
    session.fit_jacobian_lens([TEXT], **FIT)
    clean = lens_of(session, kind="jacobian")
    session.ablate("L1.attn")
    with session.applied():
        jl = session.jacobian_lens.readout(model, model.to_tokens(PROMPT), top_k=1)
    grid = lens_of(session, kind="jacobian")
    assert grid.token_ids[1] == jl.lens_topk_indices[1][:, 0].tolist()
    assert grid.token_ids[1] != clean.token_ids[1]


def test_the_cache_is_reused_by_key_and_cleared(session: Session, model: Any) -> None:
    info = session.fit_jacobian_lens([TEXT], **FIT)
    assert len(list(jacobian_cache.folder().glob("*.pt"))) == 1
    assert session.fit_jacobian_lens([TEXT], **FIT) == info  # loaded: same fit, same time
    assert Session(model).jacobian_lens_info == info  # a new session finds it by itself
    other = session.fit_jacobian_lens([TEXT], **{**FIT, "n_prompts": 2})
    assert other.key != info.key and other.n_prompts == 2
    assert session.fit_jacobian_lens([TEXT], **FIT, refit=True).fitted_at >= info.fitted_at
    assert session.clear_jacobian_lens_cache() > 0
    assert jacobian_cache.entries() == [] and session.jacobian_lens is None
    with pytest.raises(TranspectorError, match="no Jacobian lens is fitted"):
        lens_of(session, kind="jacobian")


def test_a_cancel_leaves_no_hook_no_frozen_weight_and_no_entry(
    session: Session, model: Any
) -> None:
    before = [(p.requires_grad, p.grad) for p in model.parameters()]
    model.train()  # the fit runs in evaluation mode and puts the modes back
    args = FitJacobianLensArgs(dataset=None, **FIT)
    session.set_dataset([TEXT], window=SEQ)
    steps = tool_named("fit_jacobian_lens").steps(session, args)  # type: ignore[misc]
    assert next(steps).done == 0
    assert next(steps).done == 1  # one prompt fitted
    with pytest.raises(Cancelled):
        steps.throw(Cancelled())
    assert all(m.training for m in model.modules())  # as they were
    model.eval()
    assert session.hooks() == [] and all(not p._forward_hooks for p in model.hook_dict.values())
    assert [(p.requires_grad, p.grad) for p in model.parameters()] == before
    assert jacobian_cache.entries() == [] and session.jacobian_lens is None


def test_bad_input_is_refused_and_changes_nothing(session: Session, tmp_path: Path) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match="no Jacobian lens is fitted"):
        lens_of(session, kind="jacobian")
    with pytest.raises(TranspectorError, match="not enough for one window"):
        session.fit_jacobian_lens(["short"], **FIT)
    with pytest.raises(TranspectorError, match="has 3 windows"):
        session.fit_jacobian_lens([TEXT], **{**FIT, "n_prompts": 4})
    with pytest.raises(TranspectorError, match="too short"):
        session.fit_jacobian_lens([TEXT], **{**FIT, "skip_first_positions": SEQ})
    with pytest.raises(TranspectorError, match="n_prompts"):
        session.fit_jacobian_lens([TEXT], n_prompts=0)
    compat = Session(boot_tiny(tmp_path / "compat").eval())
    compat.model.enable_compatibility_mode()
    with pytest.raises(TranspectorError, match=r"refuses a Jacobian lens.*compatibility mode"):
        compat.fit_jacobian_lens([TEXT], **FIT)
    session.fit_jacobian_lens([TEXT], **FIT)
    with pytest.raises(TranspectorError, match=r"L0\.resid_pre has no transport matrix"):
        session.tools.lens_top_k(row="L0.resid_pre", position=0, kind="jacobian")
    assert session.version == version and jacobian_cache.entries() != []
    assert lens_of(session).kind == "logit"  # the logit lens is as it was
