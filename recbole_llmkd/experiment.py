"""One measured RecBole run: train, test, and record what a benchmark needs to compare runs.

:func:`train_and_test` does what ``recbole.quick_start.run_recbole`` does (RecBole's ``Config``,
``create_dataset``, ``data_preparation``, ``get_model``, ``get_trainer``, ``Trainer.fit`` and
``Trainer.evaluate``) and also records:

* ``epoch_seconds``: the wall time of every training epoch (``Trainer._train_epoch``), without
  the validation passes;
* ``inference_seconds``: one full-ranking evaluation of the test set with the best checkpoint
  already loaded (the checkpoint load is not timed);
* ``per_user``: every test user (internal index and raw token) and their metric values, read from the same ``rec.topk`` structure that
  RecBole's evaluator averages, so the per-user means equal RecBole's ``test_result``; they feed
  the paired tests;
* ``split``: a fingerprint (sha256) of the training sequences and of the test targets: two runs
  with equal fingerprints trained and tested on the same split;
* ``peak_memory_mb``: the peak allocated GPU memory, or on CPU the process's peak RSS (so it is
  one run's own only when the run has a process of its own, as in ``benchmarks/grid.py``);
* ``valid_scores``: the validation metric after every evaluation (RecBole's ``fit`` callback), the
  convergence curve;
* the KD trainer's per-epoch ``L_rec``, ``L_distil``, ``β`` and spreads (``kd_history``);
* ``fast_path_parts``: what ``fast_path`` replaced (``{"gelu": n, "dropout": m}``; ``{}`` when off).
  Runs written before the fast dropout existed lack the key: their fast path was the GELU alone.

``epoch_line``, when given, receives one short line per evaluated epoch (the main job prints them),
and ``quiet_console`` keeps RecBole's INFO logging (config dump, per-epoch metrics) out of the
console while its log file still receives it.
"""

import hashlib
import inspect
import logging
import platform
import resource
import sys
import time
from logging import getLogger

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.evaluator import metrics as recbole_metrics
from recbole.utils import get_model, get_trainer, init_logger, init_seed

from recbole_llmkd.fast_path import apply_fast_path, fast_path_enabled
from recbole_llmkd.quick_start import with_ce_defaults
from recbole_llmkd.registry import register


def _hash_arrays(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def split_fingerprint(train_data, test_data, config):
    """Short hashes of the training examples (user, sequence, target) and of the test examples."""
    uid, iid = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
    seq = iid + config["LIST_SUFFIX"]

    def part(dataset):
        inter = dataset.inter_feat
        return _hash_arrays(inter[uid].numpy(), inter[seq].numpy(), inter[iid].numpy())

    return {"train": part(train_data._dataset), "test": part(test_data._dataset)}


class PerUserRecorder:
    """Wraps a trainer's evaluator and collector: keeps each evaluated user's id and metric values.

    RecBole's ``Evaluator.evaluate`` turns the collected ``rec.topk`` (a positive-hit matrix plus
    each user's number of positives) into averaged metrics; we compute the same metrics' per-user
    ``metric_info`` from the same structure."""

    TOPK_METRICS = {"recall": recbole_metrics.Recall, "ndcg": recbole_metrics.NDCG, "hit": recbole_metrics.Hit,
                    "mrr": recbole_metrics.MRR, "precision": recbole_metrics.Precision}

    def __init__(self, trainer, config):
        self.config = config
        self.uid_field = config["USER_ID_FIELD"]
        self.users = []
        self.values = None
        self._evaluator = trainer.evaluator
        self._collect = trainer.eval_collector.eval_batch_collect
        trainer.evaluator = self
        trainer.eval_collector.eval_batch_collect = self._collect_batch

    def reset(self):
        self.users, self.values = [], None

    def _collect_batch(self, scores, interaction, positive_u, positive_i):
        self.users.append(interaction[self.uid_field].cpu().numpy())
        return self._collect(scores, interaction, positive_u, positive_i)

    def evaluate(self, struct):
        topk = struct.get("rec.topk")
        if topk is not None:
            pos_index, pos_len = torch.split(topk, [max(self.config["topk"]), 1], dim=1)
            pos_index, pos_len = pos_index.bool().numpy(), pos_len.squeeze(-1).numpy()
            self.values = {}
            for metric in self.config["metrics"]:
                cls = self.TOPK_METRICS.get(metric.lower())
                if cls is None:
                    continue
                metric_obj = cls(self.config)
                if "pos_len" in inspect.signature(metric_obj.metric_info).parameters:
                    per_user = metric_obj.metric_info(pos_index, pos_len)
                else:
                    per_user = metric_obj.metric_info(pos_index)
                for k in self.config["topk"]:
                    self.values[f"{metric.lower()}@{k}"] = per_user[:, k - 1]
        return self._evaluator.evaluate(struct)

    def per_user(self, dataset):
        users = np.concatenate(self.users) if self.users else np.zeros(0, dtype=np.int64)
        return {"user_index": users.tolist(), "user": [str(u) for u in dataset.id2token(self.uid_field, users)],
                **{name: [round(float(v), 6) for v in values] for name, values in (self.values or {}).items()}}


def peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # The process's own high-water mark: VmHWM belongs to the address space exec created, whereas
    # ru_maxrss survives execve and would report a larger parent's peak in a subprocess.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def environment():
    import recbole

    return {"python": platform.python_version(), "torch": torch.__version__, "recbole": recbole.__version__,
            "numpy": np.__version__, "machine": platform.machine(), "processor": platform.processor(),
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _time_epochs(trainer, seconds):
    train_epoch = trainer._train_epoch

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return train_epoch(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    trainer._train_epoch = timed


def _record_best_epoch(trainer, best):
    """RecBole saves a checkpoint exactly when the validation metric improves: note that epoch."""
    save = trainer._save_checkpoint

    def saving(epoch, *args, **kwargs):
        best["epoch"] = epoch
        return save(epoch, *args, **kwargs)

    trainer._save_checkpoint = saving


def quiet_console_handlers():
    """Raise the root logger's console handlers (RecBole's ``init_logger`` adds one) to WARNING."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def epoch_summary(model, epoch, seconds, score, best_score, best_epoch, metric, kd_entry=None):
    """One console line per evaluated epoch."""
    line = (f"{model} epoch {epoch}: {seconds:.0f} s, valid {metric} {score:.4f} "
            f"(best {best_score:.4f} at epoch {best_epoch})")
    if kd_entry and kd_entry.get("epoch") == epoch:
        line += f" | stage {kd_entry['stage']}, L_rec {kd_entry['L_rec']:.3f}"
        if kd_entry["stage"] == 1:
            line += f", L_distil {kd_entry['L_distil']:.3f}"
    return line


def train_and_test(model, dataset, config_dict=None, config_file_list=None, saved=True, show_progress=None,
                   epoch_line=None, quiet_console=False):
    """Train ``model`` on ``dataset`` with RecBole and test its best checkpoint; returns a dict
    (JSON-ready) with ``test_result``, ``best_valid_result``, timings, per-user test metrics, the
    split fingerprint and the effective config of the keys that matter for comparing runs."""
    register()
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list,
                    config_dict=with_ce_defaults(model, dataset, config_file_list, config_dict))
    if show_progress is not None:
        config["show_progress"] = bool(show_progress)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    if quiet_console:
        quiet_console_handlers()
    logger = getLogger()
    logger.info(config)
    data = create_dataset(config)
    logger.info(data)
    train_data, valid_data, test_data = data_preparation(config, data)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    fast_path_parts = apply_fast_path(net) if fast_path_enabled(config) else {}
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    epoch_seconds = []
    _time_epochs(trainer, epoch_seconds)
    best = {"epoch": None}
    _record_best_epoch(trainer, best)
    recorder = PerUserRecorder(trainer, config)
    if config["device"].type == "cuda":
        torch.cuda.reset_peak_memory_stats(config["device"])

    valid_scores = []

    def after_evaluation(epoch_idx, valid_score):
        valid_scores.append(round(float(valid_score), 6))
        if epoch_line is not None:
            history = getattr(trainer, "kd_history", None)
            epoch_line(epoch_summary(config["model"], epoch_idx, epoch_seconds[-1] if epoch_seconds else 0.0,
                                     float(valid_score), float(trainer.best_valid_score), best["epoch"],
                                     config["valid_metric"], history[-1] if history else None))

    started = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=saved,
                                                      show_progress=config["show_progress"],
                                                      callback_fn=after_evaluation)
    fit_seconds = time.perf_counter() - started
    if saved:  # load the best checkpoint outside the timed evaluation
        trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    recorder.reset()
    if config["device"].type == "cuda":
        torch.cuda.synchronize(config["device"])
    started = time.perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=False, show_progress=config["show_progress"])
    if config["device"].type == "cuda":
        torch.cuda.synchronize(config["device"])
    inference_seconds = time.perf_counter() - started
    logger.info(f"test result: {test_result}")

    keys = ["model", "dataset", "seed", "epochs", "train_batch_size", "eval_batch_size", "learning_rate",
            "MAX_ITEM_LIST_LENGTH", "hidden_size", "n_layers", "n_heads", "inner_size", "stopping_step",
            "eval_step", "valid_metric", "metrics", "topk", "eval_args", "loss_type", "data_path",
            "user_inter_num_interval", "item_inter_num_interval", "fast_path", "learner", "weight_decay",
            "clip_grad_norm"]
    kd_keys = [k for k in config.final_config_dict if k.startswith("kd_")]
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "seed": config["seed"],
        "config": {k: _jsonable(config[k]) for k in keys + kd_keys if k in config.final_config_dict},
        "best_valid_score": float(best_valid_score),
        "valid_score_bigger": bool(config["valid_metric_bigger"]),
        "best_valid_result": {k: float(v) for k, v in best_valid_result.items()},
        "test_result": {k: float(v) for k, v in test_result.items()},
        "per_user": recorder.per_user(test_data._dataset),
        "split": split_fingerprint(train_data, test_data, config),
        "valid_scores": valid_scores,
        "epochs_trained": len(epoch_seconds),
        "best_epoch": best["epoch"],
        "epoch_seconds": [round(s, 3) for s in epoch_seconds],
        "train_seconds_per_epoch": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "fit_seconds": round(fit_seconds, 2),
        "inference_seconds": round(inference_seconds, 4),
        "peak_memory_mb": round(peak_memory_mb(config["device"]), 1),
        "kd_history": getattr(trainer, "kd_history", None),
        "fast_path_parts": fast_path_parts,
        "environment": environment(),
        "device": str(config["device"]),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
