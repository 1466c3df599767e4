"""The global temporal split: exact examples on a hand-made dataset, files RecBole trains on."""

import json

import pandas as pd
import pytest

from dataset_converters.base import ConversionError
from dataset_converters.temporal_split import main, ordered_sequences, split_examples, write_split
from recbole_llmkd.harness.experiment import train_and_test

INTER = pd.DataFrame({
    "user_id": ["a", "b", "a", "c", "a", "a", "b", "c", "a"],
    "item_id": ["a2", "b1", "a1", "c1", "a3", "a5", "b2", "c2", "a4"],
    "timestamp": [2, 1, 1, 7, 3, 9, 6, 8, 8],
})


def test_examples_around_two_cuts():
    parts = split_examples(ordered_sequences(INTER), valid_cut=5, test_cut=8)
    assert parts["train"] == [("a", ["a1"], "a2"), ("a", ["a1", "a2"], "a3")]
    assert parts["valid"] == [("b", ["b1"], "b2")]  # a: nothing in [5, 8); c: no history before 5
    assert parts["test"] == [("a", ["a1", "a2", "a3"], "a4"), ("c", ["c1"], "c2")]  # first post-cut item only


def test_cuts_out_of_order_are_refused():
    with pytest.raises(ConversionError, match="validation cut"):
        split_examples(ordered_sequences(INTER), valid_cut=8, test_cut=5)


def write_inter(tmp_path, frame):
    path = tmp_path / "toy.inter"
    frame.rename(columns={"user_id": "user_id:token", "item_id": "item_id:token",
                          "timestamp": "timestamp:float"}).to_csv(path, sep="\t", index=False)
    return path


def test_files_and_summary(tmp_path):
    folder, summary = write_split(str(write_inter(tmp_path, INTER)), str(tmp_path / "out"), "toy-t",
                                  valid_quantile=0.4, test_quantile=0.8, max_len=2)
    # quantiles of [1, 1, 2, 3, 6, 7, 8, 8, 9] (linear): 0.4 -> 3.6, 0.8 -> 8.0
    assert (summary["valid_cut"], summary["test_cut"]) == (pytest.approx(3.6), 8.0)
    test_lines = (tmp_path / "out" / "toy-t" / "toy-t.test.inter").read_text().splitlines()
    assert test_lines == ["user_id:token\titem_id_list:token_seq\titem_id:token", "a\ta2 a3\ta4", "c\tc1\tc2"]
    assert summary["train_examples"] == 2 and summary["valid_examples"] == 1 and summary["test_examples"] == 2
    assert json.loads((tmp_path / "out" / "toy-t" / "toy-t.split.json").read_text())["max_len"] == 2


@pytest.mark.parametrize("quantiles, part", [((0.2, 0.99), "test"), ((0.01, 0.3), "valid")])
def test_an_empty_part_is_a_clear_error(tmp_path, quantiles, part):
    # users a, b and d (one interaction, the latest): at 0.99 only d is after the test cut, without a
    # history; at 0.01 nobody has a history before the validation cut
    frame = pd.concat([INTER[INTER["user_id"] != "c"],
                       pd.DataFrame({"user_id": ["d"], "item_id": ["d1"], "timestamp": [10]})])
    with pytest.raises(ConversionError, match=f"toy.inter: no {part} users with these cuts"):
        write_split(str(write_inter(tmp_path, frame)), str(tmp_path / "out"), "x", *quantiles)
    assert not (tmp_path / "out" / "x" / "x.train.inter").exists()


@pytest.mark.slow
def test_recbole_trains_and_tests_on_the_ml100k_split(run_dir):
    assert main(["-d", "ml-100k", "--output", "data", "--max-len", "10"]) == 0
    summary = json.loads((run_dir / "data" / "ml-100k-temporal" / "ml-100k-temporal.split.json").read_text())
    assert summary["test_examples"] == 90 and summary["valid_examples"] == 81  # ml-100k: cuts at 0.8 / 0.9
    result = train_and_test("SASRec", "ml-100k-temporal", {
        "data_path": "data", "benchmark_filename": ["train", "valid", "test"], "load_col": None, "epochs": 1,
        "MAX_ITEM_LIST_LENGTH": 10, "hidden_size": 16, "inner_size": 32, "state": "WARNING", "show_progress": False,
        "checkpoint_dir": str(run_dir / "saved")})
    assert len(result["per_user"]["user_index"]) == 90
    assert 0 <= result["test_result"]["ndcg@10"] <= 1
