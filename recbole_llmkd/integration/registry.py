"""Make RecBole find the KD models, their trainer, dataset and YAML defaults by name.

RecBole looks things up by name in its own namespaces:

* ``get_model(name)`` tries ``importlib.util.find_spec('recbole.model.<sub>.<name lower>')``, which
  consults ``sys.modules`` first: we put our model modules there under those names;
* ``get_trainer`` looks for ``recbole.trainer.<Model>Trainer`` and ``create_dataset`` for
  ``recbole.data.dataset.<Model>Dataset``: we set those attributes;
* ``Config`` reads only ``recbole/properties/model/<Model>.yaml`` and ``.../dataset/<name>.yaml``:
  ``Config._load_internal_config_dict`` becomes :class:`recbole_llmkd.integration.config.KDConfig`'s, which also
  reads the plugin's files (:func:`recbole_llmkd.integration.config_files.plugin_config_files`: our
  ``properties/dataset/<name>.yaml`` for the converted datasets, any model; for our models the parent
  model's RecBole YAML, our ``overall.yaml`` and our model YAML, in that order).

:func:`register` also lets RecBole's ``--nproc N`` run on CPUs (gloo; :mod:`recbole_llmkd.integration.distributed`).
:func:`register` first applies the compatibility shims (:mod:`recbole_llmkd.integration.compat`); it is idempotent,
and it is the one-line opt-in ``recbole_llmkd.register()`` (importing the package does nothing).
"""

import sys

import recbole.data.dataset
import recbole.trainer
import torch
from recbole.config import Config

from recbole_llmkd.dataset import KDSequentialDataset
from recbole_llmkd.integration import compat
from recbole_llmkd.integration.config import KDConfig
from recbole_llmkd.integration.distributed import enable_cpu_distributed
from recbole_llmkd.integration.models import get_model
from recbole_llmkd.kd_settings import KD_MODELS
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
    # Checkpoints pickle the run's config; torch.load(weights_only=True) accepts only allow-listed
    # classes (RecBole's Config and its enums: compat). KDConfig pickles like Config, under its
    # module's name, and under recbole_llmkd.config, where checkpoints written before the move name it.
    torch.serialization.add_safe_globals([KDConfig, (KDConfig, "recbole_llmkd.config.KDConfig")])
    enable_cpu_distributed()
