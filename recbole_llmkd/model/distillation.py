"""The user-profile distillation head shared by SASRecKD and BERT4RecKD.

It aggregates one transformer block's hidden states over a sequence's valid positions, maps the
user's profile vector into the hidden space with a learned linear ``T`` and returns the
distillation loss. It never runs the encoder itself: the models hand it hidden states captured
from the forward pass that computes the recommendation loss.

A user "has a profile" when its profile vector has at least one non-zero entry. Users missing from
the ``.user`` file (or written with an empty or all-zero vector) get a zero row from RecBole and
are masked out explicitly: they add nothing to ``L_distil`` and are not counted in its mean.
"""

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

AGGREGATIONS = ("mean", "exponential", "attention")
LOSSES = ("mse", "rmse", "cosine")


@dataclass
class KDLoss:
    """The parts of one batch's training loss (all scalars)."""

    total: torch.Tensor
    rec: torch.Tensor
    distil: torch.Tensor
    beta: torch.Tensor
    n_profiled: torch.Tensor  # how many examples of the batch entered L_distil


def check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"config key {key!r} is {value!r}; expected one of {list(choices)}")


class ProfileDistillation(nn.Module):
    def __init__(self, profile_dim, hidden_size, aggregation="mean", gamma=0.1, loss="mse"):
        super().__init__()
        check_choice("kd_aggregation", aggregation, AGGREGATIONS)
        check_choice("kd_loss", loss, LOSSES)
        self.aggregation = aggregation
        self.gamma = float(gamma)
        self.loss = loss
        self.profile_proj = nn.Linear(profile_dim, hidden_size)  # T in the paper
        if aggregation == "attention":
            self.attn_score = nn.Linear(hidden_size, 1)  # w and b

    def aggregate(self, hidden, valid):
        """Weighted mean of ``hidden`` [B, L, H] over positions where ``valid`` [B, L] is True.

        Rows without any valid position aggregate to zeros (the caller masks them out)."""
        valid_f = valid.to(hidden.dtype)
        if self.aggregation == "mean":
            weights = valid_f
        elif self.aggregation == "exponential":
            # weight ∝ exp(γ·t); shifting t by the row's last valid position keeps exp() <= 1
            positions = torch.arange(valid.size(1), device=hidden.device, dtype=hidden.dtype)
            last = (positions * valid_f).amax(dim=1, keepdim=True)
            weights = torch.exp(self.gamma * (positions - last)) * valid_f
        else:
            scores = self.attn_score(hidden).squeeze(-1)
            scores = scores.masked_fill(~valid, float("-inf"))
            weights = torch.softmax(scores, dim=1)
            weights = torch.nan_to_num(weights, nan=0.0)  # rows with no valid position
        denom = weights.sum(dim=1, keepdim=True).clamp_min(torch.finfo(hidden.dtype).tiny)
        return torch.bmm((weights / denom).unsqueeze(1), hidden).squeeze(1)

    def per_user_loss(self, student, target):
        if self.loss == "cosine":
            return 1.0 - F.cosine_similarity(student, target, dim=-1)
        return (student - target).pow(2).mean(dim=-1)

    def distil_loss(self, hidden, valid, profile):
        """``L_distil`` over the users that have a profile and at least one valid position.

        Returns ``(loss, n_profiled)``, both 0-dim tensors. Every row is computed and the rows
        without a profile are weighted 0 (no gather/scatter of the hidden states, no host sync);
        a batch with no profiled user gives an exact 0, not NaN."""
        mask = (profile != 0).any(dim=-1) & valid.any(dim=1)
        n_profiled = mask.sum()
        student = self.aggregate(hidden, valid)
        target = self.profile_proj(profile)
        per_user = self.per_user_loss(student, target)
        loss = (per_user * mask).sum() / n_profiled.clamp_min(1)
        if self.loss == "rmse":
            loss = torch.where(loss > 0, loss.clamp_min(1e-12).sqrt(), loss)
        return loss, n_profiled


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
