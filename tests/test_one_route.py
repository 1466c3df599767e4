"""One route (issue 34, item 2): every entry point builds config, data, model and trainer through
:func:`recbole_llmkd.integration.quick_start.build_run`, so ``fast_path`` (and every other key) behaves the same
whichever is used, and RecBole's ``Config`` is built once per run.

Each test stops the run right after the model is built (:class:`Stop`, raised by a wrapper of
``build_model``), so no test trains."""

import os
import socket
import subprocess
import sys

import pytest
import torch.distributed as dist

import run_hyper_kd
import run_recbole_kd
from recbole_llmkd.integration import quick_start
from recbole_llmkd.integration.config import KDConfig

TINY = {"n_layers": 1, "n_heads": 1, "hidden_size": 8, "inner_size": 16, "MAX_ITEM_LIST_LENGTH": 10,
        "user_inter_num_interval": "[0,40]", "show_progress": False, "state": "WARNING", "use_gpu": False}


class Stop(Exception):
    pass


@pytest.fixture
def built(monkeypatch, run_dir):
    """What the runs built: ``models`` (their classes) and ``fast_path`` (what it replaced), and
    ``configs``, the number of KDConfig objects made."""
    record = {"models": [], "fast_path": [], "configs": 0}
    original_build_model, original_init = quick_start.build_model, KDConfig.__init__

    def build_model(config, train_data, fast_path=None):
        net, parts = original_build_model(config, train_data, fast_path)
        record["models"].append(type(net).__name__)
        record["fast_path"].append(parts)
        raise Stop

    def counting_init(self, *args, **kwargs):
        record["configs"] += 1
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(quick_start, "build_model", build_model)
    monkeypatch.setattr(KDConfig, "__init__", counting_init)
    monkeypatch.setattr("sys.argv", ["pytest"])
    return record


def flags(config):
    return [f"--{key}={value}" for key, value in config.items()]


def check(record, model, fast_path):
    assert record["models"] == [model] and record["configs"] == 1
    assert bool(record["fast_path"][0]) is fast_path
    if fast_path:
        assert record["fast_path"][0]["gelu"] > 0 and record["fast_path"][0]["dropout"] > 0


@pytest.mark.parametrize("fast_path", [True, False])
def test_run_recbole_kd_script(built, profile_file, fast_path):
    with pytest.raises(Stop):
        run_recbole_kd.main(["-m", "SASRecKD", "-d", "ml-100k", *flags(TINY), f"--fast_path={fast_path}",
                             f"--kd_profile_file={profile_file}"])
    check(built, "SASRecKD", fast_path)


@pytest.mark.parametrize("fast_path", [True, False])
def test_run_recbole_kd_script_pipeline(built, profile_file, run_dir, fast_path):
    # the main job's budget turns the fast path on: the flag still decides
    with pytest.raises(Stop):
        run_recbole_kd.main(["--pipeline", "-m", "SASRec", "-d", "ml-100k", "--profile_file", str(profile_file),
                             "--output_dir", str(run_dir / "out"), *flags(TINY), f"--fast_path={fast_path}"])
    check(built, "SASRec", fast_path)


@pytest.mark.parametrize("entry", ["run_recbole_kd", "run"])
def test_quick_start(built, profile_file, entry):
    with pytest.raises(Stop):
        getattr(quick_start, entry)("SASRecKD", "ml-100k", config_dict={**TINY, "fast_path": True,
                                                                       "kd_profile_file": str(profile_file)})
    check(built, "SASRecKD", True)


def test_run_hyper_kd_objective(built, profile_file):
    with pytest.raises(Stop):
        run_hyper_kd.kd_objective("SASRecKD", "ml-100k", {**TINY, "fast_path": True, "kd_profile_file": str(profile_file)})
    check(built, "SASRecKD", True)


def test_benchmark_grid_job(built, run_dir):
    from benchmarks.grid import run_job

    job = {"model": "SASRec", "dataset": "ml-100k", "config_dict": {**TINY, "fast_path": True}, "config_files": [],
           "out": str(run_dir / "run.json"), "users_dir": str(run_dir / "users"), "subsets": None, "cell": {}}
    with pytest.raises(Stop):
        run_job(job)
    check(built, "SASRec", True)


def test_each_process_of_nproc(built, profile_file, monkeypatch):
    """``--nproc N`` spawns N processes that each run :func:`quick_start.run_recbole_kd`: here one
    process (world size 1), run in this one, with gloo."""
    import torch.multiprocessing as mp

    monkeypatch.setattr(mp, "spawn", lambda fn, args, nprocs, join: [fn(rank, *args) for rank in range(nprocs)])
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    try:
        with pytest.raises(Stop):
            run_recbole_kd.main(["-m", "SASRecKD", "-d", "ml-100k", "--world_size", "1", "--port", str(port),
                                 *flags(TINY), "--fast_path=True", f"--kd_profile_file={profile_file}"])
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    check(built, "SASRecKD", True)


@pytest.mark.slow
def test_the_script_applies_the_fast_path(run_dir, profile_file):
    """``python run_recbole_kd.py -m SASRecKD ... --fast_path=True``, as a command: one short epoch,
    and RecBole's log says what the fast path replaced."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = {**TINY, "state": "INFO", "epochs": 1, "kd_epochs": 1, "checkpoint_dir": str(run_dir / "saved")}
    out = subprocess.run([sys.executable, os.path.join(root, "run_recbole_kd.py"), "-m", "SASRecKD", "-d", "ml-100k",
                          *flags(config), "--fast_path=True", f"--kd_profile_file={profile_file}"],
                         capture_output=True, text=True, cwd=run_dir, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    logs = "".join(open(os.path.join(folder, name), encoding="utf-8").read()
                   for folder, _, names in os.walk(run_dir / "log") for name in names)
    assert "fast_path: {'gelu': 1, 'dropout': " in logs

