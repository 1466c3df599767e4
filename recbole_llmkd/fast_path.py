"""``fast_path``: the same transformer, computed with cheaper kernels on the CPU.

Three replacements, made per model instance (nothing global is patched):

* **GELU.** RecBole's ``FeedForward.gelu`` computes the exact (erf) GELU as five tensor operations,
  each with its own autograd node. ``torch.nn.functional.gelu`` is the same exact-erf function in one
  fused kernel: the two agree to about 1e-6 per activation (float32 rounding).
* **BERT4Rec's loss at the masked positions only.** RecBole's cross-entropy scores every item at
  all ``B × mask_item_length`` slots of a batch, padded slots included, and then weights those by 0.
  On short histories most slots are padding (Amazon Beauty: median 4 training items, about one item
  masked a sequence in 4 slots), and scoring 12,101 items for them is most of a step. The fast path
  gathers the hidden states of the real slots (``masked_index > 0``, RecBole's rule) and scores those:
  the same mean loss and gradients to float32 rounding, computed for a quarter of the rows there.
* **Dropout masks.** ``nn.Dropout`` draws its mask with ``bernoulli_``, which on the CPU costs about
  23 ns an element and does not use a second thread; at RecBole's defaults a SASRec step draws ~50
  million of them (the attention probabilities alone are batch × heads × length²). ``FastDropout``
  draws a uniform ``rand_like`` and keeps an entry when it is ``>= p``: the same distribution (each
  entry kept with probability 1 − p, kept entries scaled by 1/(1 − p)) at about a third of the
  cost. The masks come from the same generator (``init_seed`` still makes a run reproducible) but
  are not the ones ``bernoulli_`` would draw, so a fast-path run follows its own trajectory, the way
  another seed does; ``results/README.md`` has the 3-seed check that results do not move beyond
  seed noise. With every dropout probability at 0, or in evaluation mode, the fast path gives stock
  RecBole's loss and gradients to float32 rounding (``tests/test_fast_path.py``).

:func:`recbole_llmkd.harness.experiment.train_and_test`, which the main job and the benchmark grid train
through, applies it to every model alike, baselines included, so comparisons stay like for like.
``fast_path: False`` (the default) is stock RecBole.
"""

import types

import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward
from recbole.model.sequential_recommender.bert4rec import BERT4Rec
from torch import nn


class _KeepAndScale(torch.autograd.Function):
    """``x · noise`` with ``noise`` = 1/(1 − p) where a uniform draw is ``>= p``, else 0; the backward
    multiplies by the same saved noise (what ``F.dropout`` does with a ``bernoulli_`` mask)."""

    @staticmethod
    def forward(ctx, x, p):
        noise = torch.rand_like(x).ge_(p).to(x.dtype).mul_(1.0 / (1.0 - p))
        ctx.save_for_backward(noise)
        return x * noise

    @staticmethod
    def backward(ctx, grad):
        (noise,) = ctx.saved_tensors
        return grad * noise, None


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask (see the module docstring); identity in evaluation mode."""

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0 or self.inplace:
            return super().forward(x)
        return _KeepAndScale.apply(x, self.p)


def masked_item_loss(model, interaction):
    """BERT4Rec's cross-entropy (``loss_type: CE``) over the real masked slots only; see the module
    docstring. RecBole's: the mean over slots with ``masked_index > 0`` of the loss of scoring every
    item, the bias included, for the hidden state at that slot."""
    masked_index = interaction[model.MASK_INDEX]
    hidden = model.forward(interaction[model.MASK_ITEM_SEQ])  # [B L H]
    real = masked_index > 0  # [B mask_len]
    rows = real.nonzero(as_tuple=True)[0]
    chosen = hidden[rows, masked_index[real]]  # [K H]
    logits = chosen @ model.item_embedding.weight[: model.n_items].t() + model.output_bias
    return F.cross_entropy(logits, interaction[model.POS_ITEMS][real])


def apply_fast_path(model):
    """Put ``model`` on the fast path; returns what changed, by kind: ``{"gelu": n, "dropout": m,
    "masked_item_loss": 0 or 1}`` (feed-forward blocks with another activation are left alone; the
    loss changes for BERT4Rec with ``loss_type: CE``)."""
    changed = {"gelu": 0, "dropout": 0, "masked_item_loss": 0}
    if isinstance(model, BERT4Rec) and model.loss_type == "CE":
        # an instance attribute: a KD model's distillation loss asks for it by name
        # (``recommendation_loss``); a plain BERT4Rec's trainer calls ``calculate_loss``
        loss = types.MethodType(masked_item_loss, model)
        setattr(model, "recommendation_loss" if hasattr(model, "recommendation_loss") else "calculate_loss", loss)
        changed["masked_item_loss"] = 1
    for module in model.modules():
        if isinstance(module, FeedForward) and module.intermediate_act_fn == module.gelu:
            module.intermediate_act_fn = F.gelu
            changed["gelu"] += 1
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                changed["dropout"] += 1
    return changed


def fast_path_enabled(config):
    value = config["fast_path"]
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"config key 'fast_path' is {value!r}; expected True or False")
    return value
