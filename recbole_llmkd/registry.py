"""Make RecBole find the KD models, their trainer, dataset and YAML defaults by name.

RecBole looks things up by name in its own namespaces:

* ``get_model(name)`` tries ``importlib.util.find_spec('recbole.model.<sub>.<name lower>')``, which
  consults ``sys.modules`` first: we put our model modules there under those names;
* ``get_trainer`` looks for ``recbole.trainer.<Model>Trainer`` and ``create_dataset`` for
  ``recbole.data.dataset.<Model>Dataset``: we set those attributes;
* ``Config`` reads only ``recbole/properties/model/<Model>.yaml`` and ``.../dataset/<name>.yaml``:
  we wrap ``Config._load_internal_config_dict`` so that it also reads our
  ``properties/dataset/<name>.yaml`` for the converted datasets (any model), and, for our models,
  the parent model's RecBole YAML, our ``overall.yaml`` and our model YAML, in that order.

:func:`register` also lets RecBole's ``--nproc N`` run on CPUs (gloo; :mod:`recbole_llmkd.distributed`).
:func:`register` first applies the compatibility shims (:mod:`recbole_llmkd.compat`); it is idempotent,
and it is the one-line opt-in ``recbole_llmkd.register()`` (importing the package does nothing).
"""

import importlib
import importlib.resources
import os
import sys

import recbole.data.dataset
import recbole.trainer
from recbole.config import Config

from recbole_llmkd import compat
from recbole_llmkd.dataset import KDSequentialDataset
from recbole_llmkd.distributed import enable_cpu_distributed
from recbole_llmkd.trainer import KDTrainer

# name -> (module, RecBole parent model whose YAML defaults it keeps)
KD_MODELS = {
    "SASRecKD": ("recbole_llmkd.model.sasrec_kd", "SASRec"),
    "BERT4RecKD": ("recbole_llmkd.model.bert4rec_kd", "BERT4Rec"),
}

_original_load_internal_config_dict = Config._load_internal_config_dict


def properties_dir():
    """The installed ``properties/`` folder (package ``recbole_llmkd.properties``)."""
    return os.fspath(importlib.resources.files("recbole_llmkd.properties"))


def model_config_files(model_name):
    """The YAML files that hold a KD model's defaults, lowest precedence first."""
    _, parent = KD_MODELS[model_name]
    recbole_properties = os.path.join(os.path.dirname(recbole.__file__), "properties")
    ours = properties_dir()
    return [
        os.path.join(recbole_properties, "model", f"{parent}.yaml"),
        os.path.join(ours, "overall.yaml"),
        os.path.join(ours, "model", f"{model_name}.yaml"),
    ]


def dataset_config_file(dataset):
    """Our properties for a dataset RecBole has none for (the converted ones), else None."""
    recbole_file = os.path.join(os.path.dirname(recbole.__file__), "properties", "dataset", f"{dataset}.yaml")
    ours = os.path.join(properties_dir(), "dataset", f"{dataset}.yaml")
    return ours if os.path.isfile(ours) and not os.path.isfile(recbole_file) else None


def _load_internal_config_dict(self, model, model_class, dataset):
    _original_load_internal_config_dict(self, model, model_class, dataset)
    dataset_file = dataset_config_file(dataset)
    if dataset_file:  # any model: baselines and KD models read the same dataset settings
        self._update_internal_config_dict(dataset_file)
    if model in KD_MODELS:
        for path in model_config_files(model):
            self._update_internal_config_dict(path)


def register():
    compat.apply()
    for name, (module_name, _) in KD_MODELS.items():
        module = importlib.import_module(module_name)
        sys.modules[f"recbole.model.sequential_recommender.{name.lower()}"] = module
        setattr(recbole.trainer, f"{name}Trainer", KDTrainer)
        setattr(recbole.data.dataset, f"{name}Dataset", KDSequentialDataset)
    Config._load_internal_config_dict = _load_internal_config_dict
    enable_cpu_distributed()
