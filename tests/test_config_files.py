"""Which YAML files apply, in which order, and the dataset settings the profile pipeline reads from them."""

import os

import pytest

from recbole_llmkd.integration.config_files import (
    dataset_config_file, dataset_settings, normalizes_field, plugin_config_files, properties_dir,
    read_yaml_mapping, recbole_properties_dir,
)
from tests.conftest import converted_dataset_folder


def short(paths):
    """``owner/…/file`` tails: which package, which file."""
    return [("ours" if p.startswith(properties_dir()) else "recbole", os.path.relpath(
        p, properties_dir() if p.startswith(properties_dir()) else recbole_properties_dir())) for p in paths]


@pytest.mark.parametrize("model, dataset, expected", [
    ("SASRec", "ml-100k", []),  # a RecBole model on a RecBole dataset: nothing of ours
    ("SASRec", "beauty", [("ours", "dataset/beauty.yaml")]),
    ("SASRecKD", "ml-100k", [("recbole", "model/SASRec.yaml"), ("ours", "overall.yaml"),
                             ("ours", "model/SASRecKD.yaml")]),
    ("BERT4RecKD", "kion", [("ours", "dataset/kion.yaml"), ("recbole", "model/BERT4Rec.yaml"),
                            ("ours", "overall.yaml"), ("ours", "model/BERT4RecKD.yaml")]),
])
def test_plugin_files_in_order(model, dataset, expected):
    assert short(plugin_config_files(model, dataset)) == expected


def test_recbole_keeps_its_own_dataset_yaml():
    assert dataset_config_file("ml-100k") is None
    assert dataset_config_file("no-such-dataset") is None


@pytest.mark.parametrize("dataset, fields, normalized", [
    ("ml-100k", ("user_id", "item_id", "timestamp", "rating"), True),       # RecBole's ml-100k.yaml
    ("beauty", ("user_id", "item_id", "timestamp", "rating"), False),       # ours
    ("kion", ("user_id", "item_id", "timestamp", None), False),             # ours: no rating field
    ("ml-100k-coldstart", ("user_id", "item_id", "timestamp", "rating"), True),
    ("unknown", ("user_id", "item_id", "timestamp", "rating"), False),      # RecBole's sample.yaml alone
])
def test_dataset_settings(dataset, fields, normalized):
    settings = dataset_settings(dataset)
    assert tuple(settings[k] for k in ("USER_ID_FIELD", "ITEM_ID_FIELD", "TIME_FIELD", "RATING_FIELD")) == fields
    assert normalizes_field(settings, "timestamp") is normalized


def test_the_yaml_beside_the_files_comes_last(tmp_path):
    (tmp_path / "shop.yaml").write_text("USER_ID_FIELD: customer\nTIME_FIELD: ts\nnormalize_field: [ts]\n")
    settings = dataset_settings("shop", str(tmp_path))
    assert (settings["USER_ID_FIELD"], settings["ITEM_ID_FIELD"], settings["TIME_FIELD"]) == ("customer", "item_id", "ts")
    assert normalizes_field(settings, "ts") is True
    assert normalizes_field(settings, "other") is False


def test_bad_yaml_names_the_file(tmp_path):
    (tmp_path / "shop.yaml").write_text("- a list\n")
    with pytest.raises(ValueError, match=r"shop\.yaml: expected a mapping of key: value, got list"):
        dataset_settings("shop", str(tmp_path))
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml_mapping(str(tmp_path / "empty.yaml")) == {}


def test_the_profile_settings_load_without_torch():
    """The offline pipeline reads RecBole's settings from YAML: neither torch nor RecBole's Config loads."""
    import json
    import subprocess
    import sys

    code = ("import json, sys; from recbole_llmkd.profiles.config import load_config; c = load_config(); "
            "print(json.dumps([c.user_field, c.time_field, c.normalized_time, "
            "[m for m in ('torch', 'recbole.config') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["user_id", "timestamp", True, []]


@pytest.fixture
def data_path(tmp_path):
    """A data_path with ``shop/shop.yaml`` beside its atomic files, as ``dataset_converters`` writes it."""
    return converted_dataset_folder(tmp_path, "USER_ID_FIELD: customer\nload_col:\n    inter: [customer, item_id, timestamp]\n")


@pytest.mark.parametrize("model, expected", [
    ("SASRec", ["shop/shop.yaml"]),
    ("SASRecKD", ["shop/shop.yaml", "model/SASRec.yaml", "overall.yaml", "model/SASRecKD.yaml"]),
])
def test_the_yaml_beside_the_files_is_a_plugin_file(data_path, model, expected):
    files = plugin_config_files(model, "shop", data_path)
    assert files[0] == os.path.join(data_path, "shop", "shop.yaml")
    assert [os.path.relpath(p, data_path) if p.startswith(data_path) else short([p])[0][1] for p in files] == expected


def test_ml_100k_reads_recboles_copy_whatever_the_data_path(data_path):
    os.makedirs(os.path.join(data_path, "ml-100k"))
    with open(os.path.join(data_path, "ml-100k", "ml-100k.yaml"), "w") as f:
        f.write("USER_ID_FIELD: nobody\n")  # RecBole never reads this folder for ml-100k
    assert plugin_config_files("SASRec", "ml-100k", data_path) == []
