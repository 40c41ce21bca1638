"""Rank-one model editing (ROME, Meng et al. 2022) of one MLP, in plain torch.

An MLP's output is ``k @ W_out + b_out``, with ``k`` its hidden activation (``hook_post``, the
"key"). ROME changes ``W_out`` by a rank-one term ``left ⊗ right`` so that the key of the
subject's last token maps to a new value, while keys like the dataset's move as little as
possible:

- ``k*``: the key at the subject's last token, averaged over the edit prompt behind a few short
  prefixes (so the edit does not hang on one exact context);
- ``δ``: a vector added to the MLP's output at that token, optimized (Adam) so the prompts
  continue with the target, with a KL term keeping "{subject} is a" as it was, a weight decay
  and a norm clamp;
- ``left = C⁻¹ k*`` with ``C = E[k kᵀ]`` over a dataset; ``right = δ / (k_prompt · left)``.

The edited output of any key is ``k @ W_out + b_out + (k · left) right``: for the edit prompt's
own key exactly ``+ δ``. Here that term is added by hooks (``hook_runtime.rank_one_hooks``),
so the weights never change at all.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

import torch

from transpector.errors import TranspectorError
from transpector.kernel.adapter import ModelAdapter, mark_owned
from transpector.kernel.datasets import Dataset
from transpector.kernel.knowledge import covariance
from transpector.kernel.knowledge.facts import Fact, Mlp, RankOne
from transpector.kernel.tools.base import Step

PREFIXES = ("", "Here is a fact. ", "I read this today. ", "In other news, ", "Remember that ")
KL_PROMPT = "{subject} is a"
STEPS = 25  # Adam steps on δ at most
LEARNING_RATE = 0.5
KL_WEIGHT = 0.0625
WEIGHT_DECAY = 0.5
CLAMP_NORM = 4.0  # δ's norm at most this times the output it changes
GOOD_ENOUGH = 0.05  # stop when the mean loss of the target is below this
UNCHECKED = 1 << 30  # a length limit that is not one: the caller checks
RIDGE = 1e-6  # added to C's diagonal, times its mean diagonal, so C⁻¹ k* is defined


def subject_end(adapter: ModelAdapter, text: str, subject: str) -> int:
    """The position of the subject's last token in ``text``'s tokens (``text`` contains it and
    its tokens start with those of the text up to the subject's end)."""
    at = text.find(subject)
    if not subject.strip() or at < 0:
        raise TranspectorError(f"the prompt {text!r} does not contain the subject {subject!r}")
    whole = adapter.to_tokens(text, UNCHECKED)[0]
    head = adapter.to_tokens(text[: at + len(subject)], UNCHECKED)[0]
    if not torch.equal(whole[: len(head)], head):
        raise TranspectorError(
            f"the subject {subject!r} does not end on a token boundary in {text!r}"
        )
    return len(head) - 1


def target_ids(adapter: ModelAdapter, target: str) -> list[int]:
    ids = adapter.model.tokenizer.encode(target, add_special_tokens=False)
    if not target.strip() or not ids:
        raise TranspectorError("the target is empty; give the new object, e.g. ' Rome'")
    return [int(i) for i in ids]


def rewriting_rows(
    adapter: ModelAdapter, fact: Fact, n_ctx: int
) -> tuple[list[torch.Tensor], list[int]]:
    """Each prefix + prompt + the target but its last token, as ids [pos], and the subject's
    last position in it."""
    target = target_ids(adapter, fact.target)
    rows, ends = [], []
    for prefix in PREFIXES:
        text = prefix + fact.prompt
        ids = adapter.to_tokens(text, UNCHECKED)[0]
        rows.append(torch.cat([ids.cpu(), torch.tensor(target[:-1], dtype=ids.dtype)]))
        if len(rows[-1]) > n_ctx:
            raise TranspectorError(
                f"{text!r} followed by the target is {len(rows[-1])} tokens; this model takes "
                f"at most {n_ctx} (the edit reads the prompt behind short prefixes as well)"
            )
        ends.append(subject_end(adapter, text, fact.subject))
    return rows, ends


def padded(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rows padded on the right (causal attention: no position reads the padding after it)."""
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def keys_at(
    adapter: ModelAdapter, mlp: Mlp, rows: Sequence[torch.Tensor], ends: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MLP's keys [rows, d_mlp] and outputs [rows, d_model] at each row's position."""
    found: dict[str, torch.Tensor] = {}

    def keep(act: torch.Tensor, hook: object, name: str) -> None:
        found[name] = act[torch.arange(len(ends)), list(ends)].detach().float()

    names = (mlp.keys, mlp.out)
    hooks = [(n, mark_owned(lambda a, hook, n=n: keep(a, hook, n))) for n in names]
    with torch.inference_mode(), adapter.model.hooks(fwd_hooks=hooks):
        adapter.model(padded(rows).to(adapter.cfg.device))
    return found[names[0]], found[names[1]]


def optimize_delta(
    adapter: ModelAdapter, mlp: Mlp, fact: Fact, n_ctx: int
) -> Generator[Step, None, tuple[torch.Tensor, float, int]]:
    """Steps of Adam on δ; returns δ [d_model], the target's last mean loss and the steps."""
    model = adapter.model
    rows, ends = rewriting_rows(adapter, fact, n_ctx)
    kl_text = KL_PROMPT.format(subject=fact.subject)
    rows.append(adapter.to_tokens(kl_text, n_ctx)[0].cpu())
    ends.append(subject_end(adapter, kl_text, fact.subject))
    target = target_ids(adapter, fact.target)
    tokens = padded(rows).to(adapter.cfg.device)
    n_rewrite = len(PREFIXES)
    _, outputs = keys_at(adapter, mlp, rows, ends)
    clamp = CLAMP_NORM * float(outputs[0].norm())
    delta = torch.zeros(adapter.cfg.d_model, requires_grad=True, device=tokens.device)
    optimizer = torch.optim.Adam([delta], lr=LEARNING_RATE)
    where = (torch.arange(len(ends)), torch.tensor(ends))

    def add(out: torch.Tensor, hook: object) -> torch.Tensor:
        out = out.clone()
        out[where] = out[where] + delta.to(out.dtype)
        return out

    # logits positions: the prompt's last token and the target's tokens after it
    picks = [[len(r) - len(target) + j for j in range(len(target))] for r in rows[:n_rewrite]]
    with torch.inference_mode():
        clean_kl = model(tokens[n_rewrite:])[0, ends[-1]].float().log_softmax(-1)
    loss_value, done = float("inf"), 0
    hook = [(mlp.out, mark_owned(add))]
    for done in range(1, STEPS + 1):
        with torch.enable_grad(), model.hooks(fwd_hooks=hook):
            logits = model(tokens).float().log_softmax(-1)
        nll = -torch.stack([logits[i, picks[i], target].mean() for i in range(n_rewrite)]).mean()
        kl = torch.nn.functional.kl_div(
            logits[n_rewrite, ends[-1]], clean_kl, log_target=True, reduction="sum"
        )
        decay = WEIGHT_DECAY * delta.norm() ** 2 / outputs[0].norm() ** 2
        loss = nll + KL_WEIGHT * kl + decay
        (grad,) = torch.autograd.grad(loss, [delta])
        loss_value = float(nll.detach())
        yield Step(done, STEPS, f"finding the new value: target loss {loss_value:.3f}")
        if loss_value < GOOD_ENOUGH:
            break
        optimizer.zero_grad()
        delta.grad = grad
        optimizer.step()
        with torch.no_grad():
            if delta.norm() > clamp:
                delta.mul_(clamp / delta.norm())
    return delta.detach().float(), loss_value, done


def rank_one(
    moment: torch.Tensor, key: torch.Tensor, prompt_key: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``left = C⁻¹ k*`` and ``right = δ / (k_prompt · left)`` (float32; C = E[k kᵀ])."""
    c = moment.double().cpu()
    ridge = RIDGE * float(c.diagonal().mean())
    left = torch.linalg.solve(c + ridge * torch.eye(len(c), dtype=c.dtype), key.double().cpu())
    right = delta.double().cpu() / torch.dot(prompt_key.double().cpu(), left)
    return left.float(), right.float()


def compute(
    adapter: ModelAdapter, mlp: Mlp, fact: Fact, moment: torch.Tensor, n_ctx: int
) -> Generator[Step, None, RankOne]:
    """Steps to the rank-one edit of ``mlp`` for ``fact`` (the model unchanged)."""
    rows, ends = rewriting_rows(adapter, fact, n_ctx)
    keys, _ = keys_at(adapter, mlp, rows, ends)
    delta, loss, steps = yield from optimize_delta(adapter, mlp, fact, n_ctx)
    left, right = rank_one(moment, keys.mean(0), keys[0], delta)
    return RankOne(left=left, right=right, loss=loss, steps=steps)


def edit_steps(
    adapter: ModelAdapter, mlp: Mlp, fact: Fact, dataset: Dataset, n_ctx: int
) -> Generator[Step, None, RankOne]:
    """Steps to the edit: the prompts are checked first, then the keys' second moment over
    ``dataset`` (cached on disk), then the new value."""
    rewriting_rows(adapter, fact, n_ctx)  # a clear error before any long work
    entry = yield from covariance.key_moment(adapter, dataset, mlp.keys)
    return (yield from compute(adapter, mlp, fact, entry["moment"], n_ctx))
