"""recbole-llmkd: user-profile knowledge distillation for RecBole's SASRec and BERT4Rec.

Importing the package changes nothing and loads neither RecBole nor torch, so the offline profile
pipeline (``python -m recbole_llmkd.profiles``) does not pay for them. One line opts in to
RecBole's own entry points::

    import recbole_llmkd; recbole_llmkd.register()

It applies the compatibility shims (:mod:`recbole_llmkd.integration.compat`) and makes RecBole's
``run_recbole``, ``run``, ``load_data_and_model``, ``get_model``, ``get_trainer`` and
``create_dataset`` find ``SASRecKD`` and ``BERT4RecKD`` by name (:mod:`recbole_llmkd.integration.registry`).
Our own entry points (``run_recbole_kd.py``, :mod:`recbole_llmkd.integration.quick_start`,
:func:`recbole_llmkd.harness.experiment.train_and_test`, the benchmarks) call it themselves.
"""

import importlib

from recbole_llmkd.kd_settings import KD_MODELS
from recbole_llmkd.version import __version__  # noqa: F401
# literal names (the documentation's tools read them); tests/test_kd_settings.py checks they hold KD_MODELS
__all__ = ["SASRecKD", "BERT4RecKD", "KDTrainer", "KDSequentialDataset", "register"]

_CLASSES = {**{name: "recbole_llmkd.model" for name in KD_MODELS},
            "KDTrainer": "recbole_llmkd.trainer", "KDSequentialDataset": "recbole_llmkd.dataset"}


def register():
    """Apply the shims and register the KD models with RecBole (idempotent)."""
    from recbole_llmkd.integration.registry import register as register_with_recbole

    register_with_recbole()


def __getattr__(name):
    """The classes of ``__all__``, imported on first use (with the shims applied)."""
    if name in _CLASSES:
        from recbole_llmkd.integration import compat

        compat.apply()
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'recbole_llmkd' has no attribute {name!r}")
