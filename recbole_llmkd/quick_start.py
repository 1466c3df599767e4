"""Entry points that mirror ``recbole.quick_start`` and also know the KD models.

They are RecBole's own functions, called after :func:`recbole_llmkd.register` (each registers
first); any RecBole model name works too, so baselines run the same way.

One default differs from a bare RecBole 1.2.1 call, for every model alike: with
``loss_type: CE`` (SASRec's and BERT4Rec's default) RecBole's global default
``train_neg_sample_args`` (uniform, 1 negative) makes ``Config`` raise
"train_neg_sample_args ... should be None when the loss_type is CE". When the user sets
``train_neg_sample_args`` nowhere (config dict, config files, ``--key=value`` flags), CE models get
``None``: full softmax, no negatives, which is what RecBole's own model docs prescribe.
"""

import sys
from logging import getLogger

import yaml
from recbole_llmkd.config import KDConfig
from recbole_llmkd.registry import register


def explicit_keys(config_file_list=None, config_dict=None, argv=None):
    """The config keys the user set: in the dict, in the YAML files or as ``--key=value`` flags."""
    keys = set(config_dict or {})
    for path in config_file_list or []:
        with open(path, encoding="utf-8") as f:
            keys |= set(yaml.safe_load(f) or {})
    argv = sys.argv[1:] if argv is None else argv
    keys |= {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--") and "=" in arg}
    return keys


def with_ce_defaults(model, dataset, config_file_list=None, config_dict=None):
    """``config_dict`` plus ``train_neg_sample_args: None`` for CE models, unless set explicitly."""
    register()
    config_dict = dict(config_dict or {})
    if "train_neg_sample_args" in explicit_keys(config_file_list, config_dict):
        return config_dict
    probe = KDConfig(model, dataset, config_file_list, {**config_dict, "train_neg_sample_args": None})
    if probe["loss_type"] == "CE":
        config_dict["train_neg_sample_args"] = None
        getLogger().debug("loss_type CE: train_neg_sample_args set to None (no negative sampling)")
    return config_dict


def _recbole_quick_start():
    """RecBole's ``recbole.quick_start``, imported after registration (its import needs the ray shim)."""
    register()
    import recbole.quick_start

    return recbole.quick_start


def run_recbole_kd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, queue=None):
    """Train and test one model; returns RecBole's result dict
    (``best_valid_score``, ``valid_score_bigger``, ``best_valid_result``, ``test_result``)."""
    return _recbole_quick_start().run_recbole(
        model=model,
        dataset=dataset,
        config_file_list=config_file_list,
        config_dict=with_ce_defaults(model, dataset, config_file_list, config_dict),
        saved=saved,
        queue=queue,
    )


def run(model, dataset, config_file_list=None, config_dict=None, saved=True, nproc=1, world_size=-1,
        ip="localhost", port="5678", group_offset=0):
    """RecBole's ``run``: one process, or ``nproc`` processes with torch.distributed."""
    return _recbole_quick_start().run(
        model, dataset, config_file_list=config_file_list,
        config_dict=with_ce_defaults(model, dataset, config_file_list, config_dict), saved=saved,
        nproc=nproc, world_size=world_size, ip=ip, port=port, group_offset=group_offset,
    )


def load_data_and_model(model_file):
    """RecBole's ``load_data_and_model`` for checkpoints of KD and RecBole models alike."""
    return _recbole_quick_start().load_data_and_model(model_file)
