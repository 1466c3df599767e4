"""``fast_path``: run RecBole's transformer blocks with torch's fused GELU kernel.

RecBole's ``FeedForward.gelu`` computes the exact (erf) GELU as five separate tensor operations,
each with its own autograd node; on a CPU that is the largest single cost of a SASRec training
step (about 40% at ``MAX_ITEM_LIST_LENGTH`` 20, hidden 64, batch 2048). ``torch.nn.functional.gelu``
is the same exact-erf function in one fused kernel: the two agree to about 1e-6 per activation
(float32 rounding), so trajectories differ only the way two float orders of summation differ.

The switch is per model instance (nothing global is patched), and
:func:`recbole_llmkd.experiment.train_and_test`, which the main job and the benchmark grid train
through, applies it to every model alike, baselines included, so comparisons stay like for like.
``fast_path: False`` (the default) is stock RecBole.
"""

import torch.nn.functional as F
from recbole.model.layers import FeedForward


def apply_fast_path(model):
    """Swap the exact-erf GELU of every ``FeedForward`` block of ``model`` for ``F.gelu``; returns
    how many blocks were changed (blocks with another activation are left alone)."""
    changed = 0
    for module in model.modules():
        if isinstance(module, FeedForward) and module.intermediate_act_fn == module.gelu:
            module.intermediate_act_fn = F.gelu
            changed += 1
    return changed


def fast_path_enabled(config):
    value = config["fast_path"]
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"config key 'fast_path' is {value!r}; expected True or False")
    return value
