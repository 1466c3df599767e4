"""RecBole's distributed training on CPUs (gloo): ``run_recbole_kd.py --nproc 2`` trains the KD
models through both stages, each rank on half of the training data, logs once, and leaves a
checkpoint that loads in a single process."""

import glob
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from recbole.utils import get_trainer

from recbole_llmkd.integration.distributed import _distributed_data_parallel, as_single_process
from recbole_llmkd.harness.experiment import train_and_test
from recbole_llmkd.integration.quick_start import load_data_and_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def flags(config):
    return [f"--{key}={value}" for key, value in config.items()]


@pytest.fixture(scope="module", params=["SASRecKD", "BERT4RecKD"])
def ddp_run(request, tmp_path_factory, profile_file):
    """(model, tiny config, rank 0's log text, the other rank's log text, the checkpoint path)."""
    work = tmp_path_factory.mktemp(f"ddp-{request.param}")
    config = {"kd_profile_file": str(profile_file), "epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32,
              "MAX_ITEM_LIST_LENGTH": 20, "user_inter_num_interval": "[0,40]", "train_batch_size": 256,
              "checkpoint_dir": str(work / "saved"), "show_progress": False, "seed": 2020}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "run_recbole_kd.py"), "-m", request.param, "-d", "ml-100k",
         "--nproc", "2", "--port", str(free_port()), *flags(config)],
        cwd=work, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    logs = [open(path, encoding="utf-8").read() for path in glob.glob(str(work / "log" / request.param / "*.log"))]
    assert len(logs) == 2  # RecBole opens one log file per rank
    rank0 = [text for text in logs if "test result" in text]
    assert len(rank0) == 1
    other = [text for text in logs if text is not rank0[0]][0]
    (checkpoint,) = glob.glob(str(work / "saved" / "*.pth"))
    return request.param, config, rank0[0], other, checkpoint


def test_both_stages_run_once_and_are_logged_once(ddp_run):
    _, _, log, other, _ = ddp_run
    assert len(re.findall(r"epoch 0 stage 1 \[L_rec", log)) == 1
    assert len(re.findall(r"epoch 1 stage 2 \[L_rec", log)) == 1
    assert log.count("epoch 1: stage 2 (fine-tuning on L_rec) starts [kd_epochs=1; optimizer rebuilt]") == 1
    assert "stage" not in other  # rank 1 is quiet, as RecBole makes it
    assert "epoch 2 " not in log


def test_each_example_is_trained_on_by_one_rank(ddp_run, run_dir):
    """The ranks' profiled examples, summed, are a single process's (DistributedSampler may repeat
    one example to give both ranks as many); had each rank trained on all of the data, they would
    be twice as many. BERT4Rec masks items at random, and an example whose every item is masked
    has no position to pool: its count moves by a few examples from run to run."""
    model, config, log, _, _ = ddp_run
    single = train_and_test(model, "ml-100k", {**config, "checkpoint_dir": str(run_dir / "saved"), "state": "WARNING"})
    expected = single["kd_history"][0]["profiled_examples"]
    (seen,) = re.findall(r"epoch 0 stage 1 \[.*profiled examples: (\d+)\]", log)
    if model == "SASRecKD":
        assert int(seen) in (expected, expected + 1)
    else:
        assert abs(int(seen) - expected) <= 0.02 * expected


def test_metrics_are_sane_and_the_checkpoint_loads_in_one_process(ddp_run, run_dir):
    _, _, log, _, checkpoint = ddp_run
    test_line = re.search(r"test result: \{(.*)\}", log).group(1)
    ddp_result = {k: float(v) for k, v in re.findall(r"'([\w@]+)': (?:np\.float64\()?([\d.]+)", test_line)}
    assert 0 < ddp_result["ndcg@10"] <= ddp_result["recall@10"] <= 1
    config, model, _, _, _, test = load_data_and_model(checkpoint)
    assert config["single_spec"] and config["local_rank"] == 0
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    result = trainer.evaluate(test, load_best_model=False)
    # the ranks' means weighted by their users are the whole test set's mean, up to RecBole's rounding
    # to 4 places and the one user DistributedSampler repeats when the users do not split evenly
    tolerance = 1 / len(test._dataset) + 1e-4
    assert result["ndcg@10"] == pytest.approx(ddp_result["ndcg@10"], abs=tolerance)
    assert result["recall@10"] == pytest.approx(ddp_result["recall@10"], abs=tolerance)


def test_cpu_modules_get_no_device_ids(monkeypatch):
    seen = {}
    monkeypatch.setattr("recbole_llmkd.integration.distributed._original_ddp",
                        lambda module, device_ids=None, **kwargs: seen.update(device_ids=device_ids))
    _distributed_data_parallel(torch.nn.Linear(2, 2), device_ids=[0])
    assert seen == {"device_ids": None}


def test_a_single_process_config_is_left_alone():
    class Settings:
        final_config_dict = {"single_spec": True, "local_rank": 0}

    as_single_process(Settings)
    assert Settings.final_config_dict == {"single_spec": True, "local_rank": 0}
    Settings.final_config_dict = {"single_spec": False, "local_rank": 1, "world_size": 2}
    as_single_process(Settings)
    assert Settings.final_config_dict == {"single_spec": True, "local_rank": 0, "world_size": 2}


@pytest.mark.parametrize("module", ["recbole.utils.logger", "recbole.trainer.trainer", "recbole.data.utils",
                                   "recbole.data.dataset.dataset"])
def test_a_rank_that_loses_the_race_to_create_a_folder_goes_on(module, tmp_path, monkeypatch):
    """Two ranks both see no ./log, both create it: RecBole's ensure_dir raised for the second."""
    import importlib

    from recbole_llmkd.integration.distributed import _recbole_ensure_dir as recbole_ensure_dir

    folder = tmp_path / "log"
    folder.mkdir()  # the other rank was first
    monkeypatch.setattr(os.path, "exists", lambda path: False)  # ... after this rank had looked
    with pytest.raises(FileExistsError):
        recbole_ensure_dir(str(folder))
    importlib.import_module(module).ensure_dir(str(folder))
    assert folder.is_dir()
