"""The residual stream: each row's norm, and each component's direct contribution to the metric.

The final norm is linear once its scale is fixed, so at a position, with that position's own
scale, the logit (or logit difference) the session's metric reads is the sum of what each
component wrote into the residual stream, plus the final norm's bias and the unembedding's bias.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RESIDUAL_MAX_POSITIONS = 64  # positions one call decomposes at most


class ResidualArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=RESIDUAL_MAX_POSITIONS,
        description="Positions to decompose (negative count from the end); default the last one",
    )


class ResidualResult(BaseModel):
    """Columns are ``positions`` (ascending). Per position, the metric's logit reads this run's
    top token there (top_prob), the difference of two tokens (logit_diff), or one token
    (token_loss); ``labels`` says which."""

    positions: list[int]
    n_tokens: int
    labels: list[str] = Field(description="Per position, what is decomposed: logit(' Paris')")
    token_ids: list[list[int]] = Field(description="Per position, the token(s) of the label")
    components: list[str] = Field(
        description="embed, pos_embed, L0.H0 ... L0.b_O, L0.mlp, ..., ln_final.b, b_U; edits "
        "(what the interventions wrote into the stream besides the components) when the run has any"
    )
    contributions: list[list[float]] = Field(description="[position][component]")
    total: list[float] = Field(description="Per position, the sum of its contributions")
    logit: list[float] = Field(description="Per position, the run's logit (or difference)")
    rows: list[str] = Field(description="resid_pre of every layer, then the last resid_post")
    norms: list[list[float]] = Field(description="[row][position]: the residual's L2 norm")
    cumulative: list[list[float]] = Field(
        description="[row][position]: the residual's own contribution through the final norm "
        "(the components written so far, biases excluded); the last row plus the biases is logit"
    )
