"""``fast_path``: the same transformer, computed with cheaper kernels on the CPU.

Two replacements, made per model instance (nothing global is patched):

* **GELU.** RecBole's ``FeedForward.gelu`` computes the exact (erf) GELU as five tensor operations,
  each with its own autograd node. ``torch.nn.functional.gelu`` is the same exact-erf function in one
  fused kernel: the two agree to about 1e-6 per activation (float32 rounding).
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

:func:`recbole_llmkd.experiment.train_and_test`, which the main job and the benchmark grid train
through, applies it to every model alike, baselines included, so comparisons stay like for like.
``fast_path: False`` (the default) is stock RecBole.
"""

import torch
import torch.nn.functional as F
from recbole.model.layers import FeedForward
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


def apply_fast_path(model):
    """Put ``model`` on the fast path; returns how many modules changed, by kind: ``{"gelu": n,
    "dropout": m}`` (feed-forward blocks with another activation are left alone)."""
    changed = {"gelu": 0, "dropout": 0}
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
