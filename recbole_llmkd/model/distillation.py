"""The user-profile distillation head shared by SASRecKD and BERT4RecKD.

It aggregates one transformer block's hidden states over a sequence's valid positions, compares the
result with the user's profile vector and returns the distillation loss. It never runs the encoder
itself: the models hand it hidden states captured from the forward pass that computes the
recommendation loss.

Two directions (``kd_direction``):

* ``profile_to_hidden`` (the paper): a linear map ``T`` takes the profile into the hidden space and
  the pooled hidden state is pulled toward ``T(profile)``. With a learned ``T`` (``kd_projection:
  learned``) both sides move, and the cheapest way to lower an MSE is to shrink both toward a
  common point; ``kd_projection: frozen`` fixes ``T`` (a random map of unit gain) so the target
  cannot move.
* ``hidden_to_profile``: a learned regressor ``R`` on the student side maps the pooled hidden state
  into the profile space and predicts the profile itself, which is fixed (FitNets-style); there is
  nothing on the target side to collapse.

Losses (``kd_loss``): ``mse``, ``rmse``, ``cosine`` (1 − cos) per example, or ``infonce``: the
student of each example must pick its own user's target among the targets of the *other users* of
the batch (cosine similarities over ``kd_temperature``). RecBole trains on every prefix of a
user's sequence, so one user often has several rows in a batch; they share the target and are never
each other's negatives.

``kd_standardize`` z-scores every profile dimension with the mean and standard deviation over the
profiled users of the training dataset (UMAP coordinates sit far from 0 with uneven spreads).

A user "has a profile" when its profile vector has at least one non-zero entry (before
standardisation). Users missing from the ``.user`` file (or written with an empty or all-zero vector)
get a zero row from RecBole and are masked out explicitly: they add nothing to ``L_distil``, are not
counted in its mean and are nobody's negative.
"""

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

# the keys' definitions (allowed values, checks): recbole_llmkd.kd_settings
from recbole_llmkd.kd_settings import AGGREGATIONS, DIRECTIONS, LOSSES, PROJECTIONS, check  # noqa: F401

# Stands in for -inf on masked logits: finite, so rows without a profile give a finite (then
# zero-weighted) loss and no NaN gradient.
_MASKED_LOGIT = -1e9


@dataclass
class KDLoss:
    """The parts of one batch's training loss (all scalars)."""

    total: torch.Tensor
    rec: torch.Tensor
    distil: torch.Tensor
    beta: torch.Tensor
    n_profiled: torch.Tensor  # how many examples of the batch entered L_distil
    # Spread across the batch's profiled examples (std over rows, averaged over dimensions) of the
    # pooled hidden state and of the target the loss compares with: a collapse shows as both
    # shrinking while L_distil falls.
    pooled_spread: torch.Tensor = None
    target_spread: torch.Tensor = None


def check_float32_gamma(given, gamma, max_positions):
    """Refuse a ``kd_gamma`` whose exponential weights are not what float32 computes them to be:
    :meth:`ProfileDistillation.aggregate` evaluates ``exp(γ·(t − last))`` over up to
    ``max_positions`` positions in float32, and a γ beyond float32's range becomes inf there, so the
    last position's ``inf·0`` is NaN and the loss NaN mid-training. The weights are computed here the
    same way, once, before training."""
    positions = torch.arange(max(int(max_positions), 1), dtype=torch.float32)
    weights = torch.exp(torch.tensor(gamma, dtype=torch.float32) * (positions - positions[-1]))
    if not bool(torch.isfinite(weights).all()) or not float(weights.sum()) > 0:
        raise ValueError(
            f"config key 'kd_gamma' is {given!r}; the exponential weights exp(γ·(t − last)) over {len(positions)} "
            f"positions are not finite in float32 (γ must be at most {torch.finfo(torch.float32).max:.3g}); expected "
            "a number >= 0 of a sensible size (0.1 halves a position's weight about every 7 steps)")


# InfoNCE logits are cosine / τ in float32; excluded pairs get _MASKED_LOGIT, which must stay below every
# real logit (>= -1/τ), so 1/τ must stay below its magnitude (and far from float32's overflow).
MIN_TEMPERATURE = 1.0 / abs(_MASKED_LOGIT)


def check_float32_temperature(given, temperature):
    """Refuse a ``kd_temperature`` whose 1/τ float32 cannot carry: one that rounds to 0 or whose
    inverse overflows (the logits become inf and the loss NaN), or one so small that 1/τ passes the
    logit given to excluded pairs (they would stop being excluded)."""
    as_float32 = float(torch.tensor(temperature, dtype=torch.float32))
    inverse = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(as_float32, dtype=torch.float32)
    if not bool(torch.isfinite(inverse)) or as_float32 < float(torch.tensor(MIN_TEMPERATURE, dtype=torch.float32)):
        shown = "overflows float32" if not bool(torch.isfinite(inverse)) else f"is {float(inverse):.3g}"
        raise ValueError(
            f"config key 'kd_temperature' is {given!r}; 1/τ {shown}, and the InfoNCE logits (cosine / τ, float32) "
            f"need 1/τ <= {abs(_MASKED_LOGIT):.0e}: expected a number >= {MIN_TEMPERATURE:.0e} (default 0.1)")


def profile_statistics(profiles):
    """``(mean, std)`` per dimension over the rows of ``profiles`` [N, D] that have a profile (any
    non-zero entry); a dimension with no spread gets std 1 so standardising never divides by 0."""
    profiles = torch.as_tensor(profiles, dtype=torch.float32)
    present = profiles[(profiles != 0).any(dim=-1)]
    if present.numel() == 0:
        raise ValueError("no profiled user to compute the profile statistics from")
    mean = present.mean(dim=0)
    std = present.std(dim=0, unbiased=False) if len(present) > 1 else torch.ones_like(mean)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


class ProfileDistillation(nn.Module):
    def __init__(self, profile_dim, hidden_size, aggregation="mean", gamma=0.1, loss="mse",
                 direction="profile_to_hidden", projection="learned", temperature=0.1, profile_stats=None,
                 max_positions=50):
        super().__init__()
        self.aggregation = check("kd_aggregation", aggregation)
        self.loss = check("kd_loss", loss)
        self.direction = check("kd_direction", direction)
        self.projection = check("kd_projection", projection)
        self.gamma = check("kd_gamma", gamma)
        check_float32_gamma(gamma, self.gamma, max_positions)
        self.temperature = check("kd_temperature", temperature)
        check_float32_temperature(temperature, self.temperature)
        if direction == "profile_to_hidden":
            self.profile_proj = nn.Linear(profile_dim, hidden_size, bias=projection == "learned")  # T
        else:
            self.student_proj = nn.Linear(hidden_size, profile_dim)  # R
        if aggregation == "attention":
            self.attn_score = nn.Linear(hidden_size, 1)  # w and b
        mean, std = profile_stats if profile_stats is not None else (torch.zeros(profile_dim), torch.ones(profile_dim))
        self.register_buffer("profile_mean", torch.as_tensor(mean, dtype=torch.float32).clone())
        self.register_buffer("profile_std", torch.as_tensor(std, dtype=torch.float32).clone())

    def reset_frozen_projection(self):
        """A frozen ``T``: entries N(0, 1/profile_dim), no bias, no gradient. Each target dimension
        then has about the variance of one standardised profile dimension (the hidden states that
        follow a LayerNorm have unit scale), instead of RecBole's 0.02-std init, which would pull
        the hidden states toward almost 0."""
        if self.direction != "profile_to_hidden" or self.projection != "frozen":
            return
        weight = self.profile_proj.weight
        with torch.no_grad():
            weight.copy_(torch.randn(weight.shape) / weight.size(1) ** 0.5)
        weight.requires_grad_(False)

    def aggregate(self, hidden, valid):
        """Weighted mean of ``hidden`` [B, L, H] over positions where ``valid`` [B, L] is True.

        Rows without any valid position aggregate to zeros (the caller masks them out)."""
        valid_f = valid.to(hidden.dtype)
        if self.aggregation == "mean":
            weights = valid_f
        elif self.aggregation == "exponential":
            # weight ∝ exp(γ·t); shifting t by the row's last valid position keeps exp() <= 1 on valid
            # positions. Padding after the last valid one would have exp(γ·(t − last)) > 1, which overflows
            # to inf once γ·(t − last) > 88 (float32), and inf·0 is NaN: its exponent is -inf instead.
            positions = torch.arange(valid.size(1), device=hidden.device, dtype=hidden.dtype)
            last = (positions * valid_f).amax(dim=1, keepdim=True)
            exponent = (self.gamma * (positions - last)).masked_fill(~valid, float("-inf"))
            weights = torch.exp(exponent)
        else:
            scores = self.attn_score(hidden).squeeze(-1)
            scores = scores.masked_fill(~valid, float("-inf"))
            weights = torch.softmax(scores, dim=1)
            weights = torch.nan_to_num(weights, nan=0.0)  # rows with no valid position
        denom = weights.sum(dim=1, keepdim=True).clamp_min(torch.finfo(hidden.dtype).tiny)
        return torch.bmm((weights / denom).unsqueeze(1), hidden).squeeze(1)

    def standardize(self, profile):
        return (profile - self.profile_mean) / self.profile_std

    def student_and_target(self, pooled, profile):
        """The two vectors the loss compares, in the hidden space (paper) or the profile space."""
        profile = self.standardize(profile)
        if self.direction == "profile_to_hidden":
            return pooled, self.profile_proj(profile)
        return self.student_proj(pooled), profile

    def per_user_loss(self, student, target):
        if self.loss == "cosine":
            return 1.0 - F.cosine_similarity(student, target, dim=-1)
        return (student - target).pow(2).mean(dim=-1)

    def infonce(self, student, target, mask, users):
        """Per-row InfoNCE: row i's positive is its own target; its negatives are the targets of the
        profiled rows that belong to other users."""
        logits = F.normalize(student, dim=-1) @ F.normalize(target, dim=-1).T / self.temperature
        if users is None:
            users = torch.arange(len(student), device=student.device)
        same_user = users.unsqueeze(1) == users.unsqueeze(0)
        eye = torch.eye(len(student), dtype=torch.bool, device=student.device)
        excluded = (same_user & ~eye) | ~mask.unsqueeze(0)
        logits = logits.masked_fill(excluded, _MASKED_LOGIT)
        return torch.logsumexp(logits, dim=1) - logits.diagonal()

    def distil_loss(self, hidden, valid, profile, users=None):
        """``L_distil`` over the users that have a profile and at least one valid position.

        ``users`` [B] (the user id of each row) is only read by ``infonce``. Returns
        ``(loss, n_profiled)``, both 0-dim tensors. Every row is computed and the rows without a
        profile are weighted 0 (no gather/scatter of the hidden states, no host sync); a batch with
        no profiled user gives an exact 0, not NaN."""
        mask = (profile != 0).any(dim=-1) & valid.any(dim=1)
        n_profiled = mask.sum()
        pooled = self.aggregate(hidden, valid)
        student, target = self.student_and_target(pooled, profile)
        self.last_spread = (_spread(pooled.detach(), mask), _spread(target.detach(), mask))
        if self.loss == "infonce":
            per_user = self.infonce(student, target, mask, users)
        else:
            per_user = self.per_user_loss(student, target)
        loss = (per_user * mask).sum() / n_profiled.clamp_min(1)
        if self.loss == "rmse":
            loss = torch.where(loss > 0, loss.clamp_min(1e-12).sqrt(), loss)
        return loss, n_profiled


def _spread(vectors, mask):
    """Std over the rows of ``vectors`` where ``mask`` holds, averaged over dimensions (0 for < 2 rows)."""
    weights = mask.to(vectors.dtype).unsqueeze(1)
    n = weights.sum()
    mean = (vectors * weights).sum(dim=0) / n.clamp_min(1)
    var = ((vectors - mean).pow(2) * weights).sum(dim=0) / n.clamp_min(1)
    return torch.where(n > 1, var.sqrt().mean(), torch.zeros_like(n))


def combine_losses(rec_loss, distil_loss, alpha, dynamic_scale, beta_max=None):
    """``α·β·L_distil + (1−α)·L_rec``, with ``β = stopgrad(L_rec / L_distil)`` when dynamic.

    With the dynamic scale the distillation term has the magnitude of ``α·L_rec`` whatever the
    scale of ``L_distil``; its gradient still points along ``∇L_distil``. When ``L_distil`` is
    exactly 0 (no profiled user in the batch) β is 0.

    ``beta_max`` caps the dynamic β. Uncapped, the gradient of ``β·L_distil`` is
    ``L_rec·∇log L_distil``: it grows without bound as ``L_distil`` shrinks, so the distillation
    term keeps pushing the hidden states toward the (learned, collapsible) target long after it
    is matched. The cap bounds that push; ``None`` is the paper's uncapped β."""
    if dynamic_scale:
        d = distil_loss.detach()
        beta = torch.where(d > 0, rec_loss.detach() / d.clamp_min(1e-30), torch.zeros_like(d))
        if beta_max is not None:
            beta = beta.clamp_max(float(beta_max))
    else:
        beta = torch.ones_like(rec_loss.detach())
    total = alpha * beta * distil_loss + (1.0 - alpha) * rec_loss
    return total, beta
