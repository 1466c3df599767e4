"""Each shim in recbole_llmkd.integration.compat: what breaks without it (in a fresh interpreter that does not
import recbole_llmkd) and that it works (in this process, where conftest called recbole_llmkd.register())."""

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from recbole.config import Config
import recbole.trainer.trainer as recbole_trainer_module
from recbole.utils import get_model

from recbole_llmkd.model import SASRecKD

# Runs without recbole_llmkd: records how RecBole 1.2.1 fails on this stack.
WITHOUT_SHIMS = textwrap.dedent(
    """
    import json, os, sys
    result = {}
    def attempt(name, fn):
        try:
            result[name] = ["ok", fn()]
        except Exception as err:
            result[name] = [type(err).__name__, str(err)]

    from recbole.config import Config
    kwargs = dict(model="SASRec", dataset="ml-100k", config_dict={
        "train_neg_sample_args": None, "MAX_ITEM_LIST_LENGTH": 5, "user_inter_num_interval": "[0,25]",
        "checkpoint_dir": sys.argv[1], "state": "ERROR"})
    attempt("config", lambda: Config(**kwargs) and None)
    attempt("quick_start", lambda: __import__("recbole.quick_start") and None)

    import torch
    import recbole.model.sequential_recommender
    result["anomaly_after_import"] = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(False)

    import numpy as np
    np.float_, np.complex_, np.unicode_ = np.float64, np.complex128, np.str_  # only to get a checkpoint
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.model.sequential_recommender.sasrec import SASRec
    config = Config(**kwargs)
    train, _, _ = data_preparation(config, create_dataset(config))
    trainer = Trainer(config, SASRec(config, train._dataset))
    trainer._save_checkpoint(0, verbose=False)
    attempt("load_checkpoint", lambda: torch.load(trainer.saved_model_file) and None)
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def without_shims(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw")
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_SHIMS, str(folder / "saved")],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_numpy_aliases_are_needed_and_restored(without_shims, tmp_path):
    assert without_shims["config"][0] == "AttributeError"
    assert "np.float_" in without_shims["config"][1]
    config = Config(model="SASRecKD", dataset="ml-100k",
                    config_dict={"train_neg_sample_args": None, "checkpoint_dir": str(tmp_path)})
    assert config["model"] == "SASRecKD"


def test_ray_stand_in_is_needed_and_keeps_quick_start_importable(without_shims):
    if importlib.util.find_spec("pkg_resources") is not None:
        pytest.skip("this environment still ships pkg_resources, so ray imports")
    assert without_shims["quick_start"][0] == "ModuleNotFoundError"
    assert "pkg_resources" in without_shims["quick_start"][1]
    import recbole.quick_start
    from ray import tune

    assert callable(recbole.quick_start.run_recbole)
    with pytest.raises(RuntimeError, match="ray is unavailable.*hyperopt"):
        tune.report(score=1.0)


def test_sine_anomaly_mode_is_needed_and_stays_off(without_shims):
    assert without_shims["anomaly_after_import"] is True
    get_model("SINE")
    get_model("SASRec")
    assert torch.is_anomaly_enabled() is False


def test_recbole_checkpoint_needs_the_shim_and_then_loads_weights_only(without_shims, tmp_path):
    assert without_shims["load_checkpoint"][0] == "UnpicklingError"
    config = Config(model="SASRecKD", dataset="ml-100k",
                    config_dict={"train_neg_sample_args": None, "checkpoint_dir": str(tmp_path)})
    state = {"config": config, "best_valid_score": __import__("numpy").float64(0.5)}
    recbole_trainer_module.torch.save(state, tmp_path / "c.pth", pickle_protocol=4)  # as RecBole's trainer saves
    loaded = torch.load(tmp_path / "c.pth")  # weights_only=True: torch's default
    assert loaded["config"].model_class is SASRecKD
    assert loaded["config"].final_config_dict == config.final_config_dict
    assert loaded["best_valid_score"] == 0.5


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_weights_only_still_refuses_arbitrary_globals(tmp_path):
    torch.save({"state_dict": {}, "x": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|Unsupported global"):
        torch.load(tmp_path / "evil.pth")


def test_config_pickles_without_class_objects(tmp_path):
    config = Config(model="BERT4RecKD", dataset="ml-100k",
                    config_dict={"train_neg_sample_args": None, "checkpoint_dir": str(tmp_path)})
    state = config.__getstate__()
    assert state["model_class"] is None and state["yaml_loader"] is None
    restored = pickle.loads(pickle.dumps(config))
    assert restored.model_class is get_model("BERT4RecKD")
    assert restored["transform"] == "mask_itemseq"


def test_a_loaded_config_restores_recbole_numpy_aliases(tmp_path, monkeypatch):
    """RecBole's Dataset reads np.float (filling a float_seq field's NaN), an alias only Config.__init__
    sets: a process that loads a checkpoint without building a Config used to fail there."""
    import numpy as np

    config = Config(model="SASRec", dataset="ml-100k",
                    config_dict={"train_neg_sample_args": None, "checkpoint_dir": str(tmp_path)})
    data = pickle.dumps(config)
    monkeypatch.delattr(np, "float")
    assert not hasattr(np, "float")
    pickle.loads(data)
    assert np.float is np.float64


def test_pandas_copy_on_write_breaks_recbole_loading(build_data, tmp_path):
    """Why setup.cfg pins pandas<3: under copy-on-write (pandas 3's only mode) RecBole's
    ``fillna(inplace=True)`` is a no-op and an empty float_seq cell reaches ``str.split`` as NaN."""
    path = tmp_path / "p.user"
    path.write_text("user_id:token\tprofile_emb:float_seq\n4\t1 2\n9\t\n")
    config = {"kd_profile_file": str(path), "user_inter_num_interval": "[0,40]",
              "train_neg_sample_args": None, "state": "ERROR", "checkpoint_dir": str(tmp_path)}
    assert pd.__version__ < "3"
    with pd.option_context("mode.copy_on_write", True):
        with pytest.raises(AttributeError, match="'float' object has no attribute 'split'"):
            build_data("SASRecKD", config)
    _, dataset, *_ = build_data("SASRecKD", config)
    assert dataset.user_feat["profile_emb"][dataset.token2id("user_id", "9")].tolist() == [0.0, 0.0]


def _exhaustive_search_trials():
    from recbole.trainer import HyperTuning

    seen = []

    def objective(config_dict, config_file_list):
        seen.append(dict(config_dict))
        return {"model": "toy", "best_valid_score": config_dict["a"] * 10 + config_dict["b"],
                "valid_score_bigger": True, "best_valid_result": {}, "test_result": {}}

    tuner = HyperTuning(objective, params_dict={"choice": {"a": [1, 2], "b": [0, 5]}}, algo="exhaustive",
                        max_evals=4, early_stop=10)
    tuner.run()
    return seen, tuner


def test_exhaustive_search_needs_a_generator(monkeypatch):
    import numpy as np
    import recbole.trainer.hyper_tuning as hyper_tuning

    monkeypatch.setattr(hyper_tuning, "np", np)  # RecBole's own module, without the shim
    with pytest.raises(AttributeError, match="integers"):
        _exhaustive_search_trials()


def test_exhaustive_search_with_the_shim_visits_every_point_once():
    seen, tuner = _exhaustive_search_trials()
    assert sorted((p["a"], p["b"]) for p in seen) == [(1, 0), (1, 5), (2, 0), (2, 5)]
    assert tuner.best_params == {"a": 2, "b": 5} and tuner.best_score == 25
