"""KDConfig layers the plugin's YAMLs after RecBole's and finds the KD models without registration;
the lookups fall through to RecBole for every other name."""

import json
import os
import subprocess
import sys

import pytest
from recbole.config import Config
from recbole.trainer import Trainer

from recbole_llmkd.integration.config import KDConfig, get_model, get_trainer
from recbole_llmkd.trainer import KDTrainer
from tests.conftest import converted_dataset_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_NEG = {"train_neg_sample_args": None}

UNREGISTERED = """
import json, sys
from recbole_llmkd.integration.config import KDConfig
kd = KDConfig("BERT4RecKD", "ml-100k", config_dict={"train_neg_sample_args": None})
base = KDConfig(None, "beauty", config_dict={"model": "SASRec", "train_neg_sample_args": None})
print(json.dumps({"kd": [kd["model"], kd["mask_ratio"], kd["kd_loss"], kd["kd_alpha"]],
                  "base": [base["model"], "kd_alpha" in base.final_config_dict, base["load_col"]],
                  "registered": "recbole.model.sequential_recommender.bert4reckd" in sys.modules}))
"""


@pytest.mark.slow
def test_kd_config_needs_no_registration():
    out = subprocess.run([sys.executable, "-c", UNREGISTERED], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state == {"kd": ["BERT4RecKD", 0.2, "infonce", 0.1],  # BERT4Rec's mask_ratio, our kd_* defaults
                     "base": ["SASRec", False, {"inter": ["user_id", "item_id", "rating", "timestamp"]}],
                     "registered": False}


@pytest.mark.parametrize("model", ["SASRecKD", "BERT4RecKD", "SASRec"])
def test_registered_recbole_config_equals_kd_config(model):
    """After ``register()`` (conftest), RecBole's own Config resolves exactly what KDConfig does."""
    ours = KDConfig(model, "ml-100k", config_dict=NO_NEG).final_config_dict
    theirs = Config(model, "ml-100k", config_dict=NO_NEG).final_config_dict
    assert {k: str(v) for k, v in ours.items()} == {k: str(v) for k, v in theirs.items()}


def test_user_settings_override_the_plugin_defaults():
    config = KDConfig("SASRecKD", "ml-100k", config_dict={**NO_NEG, "kd_alpha": 0.3, "n_layers": 3})
    assert (config["kd_alpha"], config["n_layers"], config["kd_temperature"]) == (0.3, 3, 0.1)


@pytest.mark.parametrize("name, expected", [("SASRecKD", "recbole_llmkd.model.sasrec_kd"),
                                            ("SASRec", "recbole.model.sequential_recommender.sasrec")])
def test_get_model(name, expected):
    cls = get_model(name)
    assert (cls.__name__, cls.__module__) == (name, expected)


def test_get_model_unknown_name_is_recboles_error():
    with pytest.raises(ValueError, match=r"model 'NoSuchModel' is neither a KD model \(SASRecKD, BERT4RecKD\) nor "
                                         r"a RecBole model this installation can load"):
        get_model("NoSuchModel")


@pytest.mark.parametrize("name, expected", [("SASRecKD", KDTrainer), ("BERT4RecKD", KDTrainer), ("SASRec", Trainer)])
def test_get_trainer(name, expected):
    from recbole.utils import ModelType

    assert get_trainer(ModelType.SEQUENTIAL, name) is expected


@pytest.fixture
def converted_shop(tmp_path):
    """``shop``: a dataset whose settings live only in the ``shop.yaml`` beside its files."""
    return converted_dataset_folder(tmp_path, "TIME_FIELD: ts\nload_col:\n    inter: [user_id, item_id, ts]\n")


@pytest.mark.parametrize("config_class", [KDConfig, Config])  # Config: RecBole's own, after register()
@pytest.mark.parametrize("model", ["SASRec", "SASRecKD"])
def test_the_yaml_beside_the_files_is_read_for_training(converted_shop, config_class, model):
    config = config_class(model, "shop", config_dict={**NO_NEG, "data_path": converted_shop})
    assert (config["TIME_FIELD"], config["load_col"]) == ("ts", {"inter": ["user_id", "item_id", "ts"]})
    assert config["data_path"] == os.path.join(converted_shop, "shop")
    assert "load_col" in config.parameters["Dataset"]


def test_the_users_settings_win_over_the_yaml_beside_the_files(converted_shop):
    config = KDConfig("SASRec", "shop", config_dict={**NO_NEG, "data_path": converted_shop, "TIME_FIELD": "when"})
    assert (config["TIME_FIELD"], config["load_col"]) == ("when", {"inter": ["user_id", "item_id", "ts"]})


def test_a_yaml_beside_the_files_that_is_not_a_mapping_is_named(converted_shop):
    path = os.path.join(converted_shop, "shop", "shop.yaml")
    with open(path, "w") as f:
        f.write("- TIME_FIELD\n")
    with pytest.raises(ValueError, match=rf"{path}: expected a mapping of key: value, got list"):
        KDConfig("SASRec", "shop", config_dict={**NO_NEG, "data_path": converted_shop})
