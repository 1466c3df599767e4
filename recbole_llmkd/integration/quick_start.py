"""The one route every run takes: config, data, model and trainer built by :func:`build_run`.

Every entry point goes through it: ``run_recbole_kd.py`` with and without ``--pipeline`` (and with
``--nproc N``: each process runs :func:`run_recbole_kd`), :func:`run_recbole_kd` and :func:`run`
here, :func:`recbole_llmkd.harness.experiment.train_and_test` (the main job, ``run_hyper_kd.py``,
the benchmark grid) and the cost benchmarks (:func:`prepare_run` and :func:`build_model`, the two
halves of :func:`build_run`). So ``fast_path`` and every other key mean the same whichever is used,
and RecBole's ``Config`` is built once per run (:func:`build_config`).

The steps are RecBole's own (``recbole.quick_start.run_recbole``): ``Config``, ``init_seed``,
``create_dataset``, ``data_preparation``, the model seeded with ``seed + local_rank``, the trainer;
:func:`run_recbole_kd` then fits and tests as RecBole's does and returns the same dict. What differs:
the KD models' names resolve (:class:`~recbole_llmkd.integration.config.KDConfig`,
:func:`~recbole_llmkd.integration.models.get_model`, :func:`~recbole_llmkd.integration.models.get_trainer`),
``fast_path`` is applied, and one default differs for every model alike: with ``loss_type: CE`` (SASRec's and BERT4Rec's default) RecBole's global default
``train_neg_sample_args`` (uniform, 1 negative) makes ``Config`` raise "train_neg_sample_args ...
should be None when the loss_type is CE"; when the user sets ``train_neg_sample_args`` nowhere
(config dict, config files, ``--key=value`` flags) CE models get ``None`` (full softmax, no
negatives, what RecBole's model docs prescribe; :meth:`KDConfig._set_default_parameters`).
RecBole's own ``run_recbole`` also counts the model's FLOPs for its log; this route does not.
"""

import sys
from dataclasses import dataclass
from logging import getLogger
from typing import Any

from recbole_llmkd.integration.registry import register


@dataclass
class BuiltRun:
    """What :func:`build_run` returns: a run ready for ``trainer.fit``."""

    config: Any
    dataset: Any  # the RecBole dataset before the split (its ``profile_user_file``: the profiles it loaded)
    train_data: Any
    valid_data: Any
    test_data: Any
    model: Any
    fast_path_parts: dict  # what the fast path replaced ({} when off)
    trainer: Any


def quiet_console_handlers():
    """Raise the root logger's console handlers (RecBole's ``init_logger`` adds one) to WARNING."""
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def build_config(model, dataset, config_file_list=None, config_dict=None):
    """The run's :class:`~recbole_llmkd.integration.config.KDConfig`, built once (RecBole's ``Config`` with the
    plugin's YAML files and the CE default of the module docstring)."""
    register()
    from recbole_llmkd.integration.config import KDConfig

    return KDConfig(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)


def prepare_run(model, dataset, config_dict=None, config_file_list=None, log=False, quiet_console=False):
    """The config (:func:`build_config`), seeded, then the dataset and its train/valid/test loaders, as
    ``recbole.quick_start.run_recbole`` builds them. ``log``: RecBole's logger is set up and receives
    the config and the dataset (``quiet_console`` keeps INFO off the console)."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_logger, init_seed

    config = build_config(model, dataset, config_file_list, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    if log:
        init_logger(config)
        if quiet_console:
            quiet_console_handlers()
        getLogger().info(config)
    data = create_dataset(config)
    if log:
        getLogger().info(data)
    train_data, valid_data, test_data = data_preparation(config, data)
    return config, data, train_data, valid_data, test_data


def build_model(config, train_data, fast_path=None):
    """The model ``config`` names, seeded as RecBole seeds it, on ``config["device"]``; with the fast
    path when ``fast_path`` (default: the config's ``fast_path`` key). Returns (model, what the fast
    path replaced)."""
    from recbole.utils import init_seed

    from recbole_llmkd.integration.models import get_model
    from recbole_llmkd.fast_path import apply_fast_path, fast_path_enabled

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if fast_path is None:
        fast_path = fast_path_enabled(config)
    return net, (apply_fast_path(net) if fast_path else {})


def build_run(model, dataset, config_file_list=None, config_dict=None, log=True, quiet_console=False,
              trainer_class=None):
    """Config, data, model and trainer of one run (:func:`prepare_run`, :func:`build_model`, then the
    trainer :func:`~recbole_llmkd.integration.models.get_trainer` names, or ``trainer_class(that class)`` when
    given: the harness's measuring subclass)."""
    from recbole_llmkd.integration.models import get_trainer

    config, data, train_data, valid_data, test_data = prepare_run(
        model, dataset, config_dict, config_file_list, log=log, quiet_console=quiet_console)
    net, fast_path_parts = build_model(config, train_data)
    if log:
        getLogger().info(net)
        getLogger().info(f"fast_path: {fast_path_parts or 'off'}")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])
    trainer = (trainer_class(trainer) if trainer_class else trainer)(config, net)
    return BuiltRun(config, data, train_data, valid_data, test_data, net, fast_path_parts, trainer)


def run_recbole_kd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, queue=None):
    """Train and test one model (KD or RecBole's) through :func:`build_run`; returns RecBole's result
    dict (``best_valid_score``, ``valid_score_bigger``, ``best_valid_result``, ``test_result``) and
    ``fast_path_parts``. ``queue``: rank 0 of a distributed run puts the result there."""
    import torch.distributed as dist

    run = build_run(model, dataset, config_file_list, config_dict)
    config = run.config
    getLogger().info(sys.argv)
    best_valid_score, best_valid_result = run.trainer.fit(run.train_data, run.valid_data, saved=saved,
                                                          show_progress=config["show_progress"])
    test_result = run.trainer.evaluate(run.test_data, load_best_model=saved, show_progress=config["show_progress"])
    getLogger().info(f"best valid : {best_valid_result}")
    getLogger().info(f"test result: {test_result}")
    result = {"best_valid_score": best_valid_score, "valid_score_bigger": config["valid_metric_bigger"],
              "best_valid_result": best_valid_result, "test_result": test_result,
              "fast_path_parts": run.fast_path_parts}
    if not config["single_spec"]:
        dist.destroy_process_group()
    if config["local_rank"] == 0 and queue is not None:
        queue.put(result)
    return result


def _run_rank(rank, model, dataset, config_file_list, config_dict, saved, queue):
    """One process of ``run(..., nproc=N)`` (started by torch's spawn, which imports this module afresh)."""
    register()
    run_recbole_kd(model, dataset, config_file_list, {**config_dict, "local_rank": rank}, saved, queue)


def run(model, dataset, config_file_list=None, config_dict=None, saved=True, nproc=1, world_size=-1,
        ip="localhost", port="5678", group_offset=0):
    """:func:`run_recbole_kd` in one process, or in ``nproc`` processes with torch.distributed (the
    keys RecBole's ``run`` hands each process: ``world_size``, ``ip``, ``port``, ``nproc``, ``offset``,
    ``local_rank``); returns rank 0's result."""
    if nproc == 1 and world_size <= 0:
        return run_recbole_kd(model, dataset, config_file_list, config_dict, saved)
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = {**(config_dict or {}), "world_size": nproc if world_size == -1 else world_size, "ip": ip,
                   "port": port, "nproc": nproc, "offset": group_offset}
    mp.spawn(_run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def load_data_and_model(model_file):
    """RecBole's ``load_data_and_model`` for checkpoints of KD and RecBole models alike."""
    register()
    import recbole.quick_start

    return recbole.quick_start.load_data_and_model(model_file)
