"""Make RecBole find the KD models, their trainer, dataset and YAML defaults by name.

RecBole looks things up by name in its own namespaces:

* ``get_model(name)`` tries ``importlib.util.find_spec('recbole.model.<sub>.<name lower>')``, which
  consults ``sys.modules`` first: we put our model modules there under those names;
* ``get_trainer`` looks for ``recbole.trainer.<Model>Trainer`` and ``create_dataset`` for
  ``recbole.data.dataset.<Model>Dataset``: we set those attributes;
* ``Config`` reads only ``recbole/properties/model/<Model>.yaml`` and ``.../dataset/<name>.yaml``:
  ``Config._load_internal_config_dict`` becomes :class:`recbole_llmkd.config.KDConfig`'s, which also
  reads the plugin's files (:func:`recbole_llmkd.settings.plugin_config_files`: our
  ``properties/dataset/<name>.yaml`` for the converted datasets, any model; for our models the parent
  model's RecBole YAML, our ``overall.yaml`` and our model YAML, in that order).

:func:`register` also lets RecBole's ``--nproc N`` run on CPUs (gloo; :mod:`recbole_llmkd.distributed`).
:func:`register` first applies the compatibility shims (:mod:`recbole_llmkd.compat`); it is idempotent,
and it is the one-line opt-in ``recbole_llmkd.register()`` (importing the package does nothing).
"""

import sys

import recbole.data.dataset
import recbole.trainer
from recbole.config import Config

from recbole_llmkd import compat
from recbole_llmkd.config import KDConfig, get_model
from recbole_llmkd.dataset import KDSequentialDataset
from recbole_llmkd.distributed import enable_cpu_distributed
from recbole_llmkd.settings import KD_MODELS
from recbole_llmkd.trainer import KDTrainer


def register():
    compat.apply()
    for name in KD_MODELS:
        sys.modules[f"recbole.model.sequential_recommender.{name.lower()}"] = sys.modules[get_model(name).__module__]
        setattr(recbole.trainer, f"{name}Trainer", KDTrainer)
        setattr(recbole.data.dataset, f"{name}Dataset", KDSequentialDataset)
    # KDConfig's layering calls RecBole's original method explicitly (no super()), so it serves a
    # plain Config as well: one definition for our entry points and RecBole's.
    Config._load_internal_config_dict = KDConfig._load_internal_config_dict
    enable_cpu_distributed()
