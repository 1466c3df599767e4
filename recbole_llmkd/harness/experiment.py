"""One measured RecBole run: train, test, and record what a benchmark needs to compare runs.

:func:`train_and_test` builds its run through the one route of every entry point
(:func:`recbole_llmkd.integration.quick_start.build_run`), with the trainer subclass of :mod:`recbole_llmkd.harness.measure`,
then runs RecBole's trainer's ``fit`` and ``evaluate``, and also records:

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
  Runs written before the fast dropout existed lack the key: their fast path was the GELU alone;
* provenance (:func:`provenance`): ``git_commit`` and ``git_dirty`` of the checkout the package was
  imported from, ``profile_file`` and ``profile_sha256`` of the ``.user`` file a KD model trained
  toward (None for a baseline), and in ``environment`` the versions of the packages that compute.
  Runs written before these keys existed lack them.

``epoch_line``, when given, receives one short line per evaluated epoch (the main job prints them),
and ``quiet_console`` keeps RecBole's INFO logging (config dump, per-epoch metrics) out of the
console while its log file still receives it.
"""

import hashlib
import os
import platform
import resource
import subprocess
import sys
import time
from logging import getLogger

import numpy as np
import torch

from recbole_llmkd.formats.files import file_sha256
from recbole_llmkd.harness.measure import measured_trainer
# prepare_run and build_model: the halves of build_run, importable from here as the guides show
from recbole_llmkd.integration.quick_start import build_model, build_run, prepare_run, quiet_console_handlers  # noqa: F401


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


MATMUL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_description(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name and which of the instruction sets that decide matrix-product speed it
    has (``"AMD EPYC (avx2 avx512f avx512_vnni avx512_bf16)"``); ``platform.processor()`` is empty
    on Linux. Timings from different CPUs are not comparable: the cost benchmarks print this."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return platform.processor() or platform.machine()
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    present = " ".join(flag for flag in MATMUL_FLAGS if flag in flags)
    name = fields.get("model name") or platform.machine()
    return f"{name} ({present})" if present else name


VERSIONED_PACKAGES = ("torch", "recbole", "numpy", "scipy", "pandas", "recbole-llmkd")


def package_versions(names=VERSIONED_PACKAGES):
    """``{distribution: version}`` of ``names`` as installed (None: not installed)."""
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(folder=None):
    """``(commit, dirty)`` of the git checkout holding ``folder`` (default: this package's source),
    or ``(None, None)`` outside one (an installed wheel). Dirty: a tracked file differs from the
    commit; untracked files (run outputs) do not count."""
    folder = folder or os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=30, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def provenance(dataset):
    """What a run's numbers depend on beyond its config: the code's commit (and whether the
    checkout had uncommitted changes) and, for a KD model, the path and sha256 of the profile
    ``.user`` file its dataset loaded (``dataset``: the RecBole dataset the model was built on)."""
    commit, dirty = git_state()
    profile_path = getattr(dataset, "profile_user_file", None)
    return {"git_commit": commit, "git_dirty": dirty,
            "profile_file": os.path.abspath(profile_path) if profile_path else None,
            "profile_sha256": file_sha256(profile_path) if profile_path else None}


def environment():
    import recbole

    return {"python": platform.python_version(), "torch": torch.__version__, "recbole": recbole.__version__,
            "numpy": np.__version__, "packages": package_versions(),
            "machine": platform.machine(), "processor": platform.processor(),
            "cpu": cpu_description(),
            "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


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
    progress = {} if show_progress is None else {"show_progress": bool(show_progress)}
    run = build_run(model, dataset, config_file_list, {**(config_dict or {}), **progress}, log=True,
                    quiet_console=quiet_console, trainer_class=measured_trainer)
    config, train_data, valid_data, test_data, trainer = run.config, run.train_data, run.valid_data, run.test_data, run.trainer
    run_provenance = provenance(run.dataset)  # the file the dataset loaded
    logger = getLogger()
    if config["device"].type == "cuda":
        torch.cuda.reset_peak_memory_stats(config["device"])

    valid_scores = []

    def after_evaluation(epoch_idx, valid_score):
        valid_scores.append(round(float(valid_score), 6))
        if epoch_line is not None:
            history = getattr(trainer, "kd_history", None)
            seconds = trainer.epoch_seconds[-1] if trainer.epoch_seconds else 0.0
            epoch_line(epoch_summary(config["model"], epoch_idx, seconds,
                                     float(valid_score), float(trainer.best_valid_score), trainer.best_epoch,
                                     config["valid_metric"], history[-1] if history else None))

    started = time.perf_counter()
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=saved,
                                                      show_progress=config["show_progress"],
                                                      callback_fn=after_evaluation)
    fit_seconds = time.perf_counter() - started
    if saved:  # load the best checkpoint outside the timed evaluation
        trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    trainer.forget_evaluated_users()
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
        "per_user": trainer.per_user(test_data._dataset),
        "split": split_fingerprint(train_data, test_data, config),
        "valid_scores": valid_scores,
        "epochs_trained": len(trainer.epoch_seconds),
        "best_epoch": trainer.best_epoch,
        "epoch_seconds": [round(s, 3) for s in trainer.epoch_seconds],
        "train_seconds_per_epoch": float(np.median(trainer.epoch_seconds)) if trainer.epoch_seconds else None,
        "fit_seconds": round(fit_seconds, 2),
        "inference_seconds": round(inference_seconds, 4),
        "peak_memory_mb": round(peak_memory_mb(config["device"]), 1),
        "kd_history": getattr(trainer, "kd_history", None),
        "fast_path_parts": run.fast_path_parts,
        **run_provenance,
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
