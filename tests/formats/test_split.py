import numpy as np
import pandas as pd
import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.formats.split import (
    leave_one_out_roles, recbole_time_key, temporal_cut, time_is_normalized, training_interactions,
)
from tests.conftest import ML100K_DIR


@pytest.mark.parametrize("normalized", [True, False])
def test_holds_out_the_last_two_in_time_order_with_file_order_on_ties(normalized):
    inter = pd.DataFrame({
        "user_id": ["a", "b", "a", "a", "b", "a", "b"],
        "item_id": ["1", "2", "3", "4", "5", "6", "7"],
        "timestamp": [30, 5, 10, 30, 1, 20, 9],
    })
    train = training_interactions(inter, normalized_time=normalized)
    # a: 3(10) 6(20) 1(30) 4(30, after 1 in the file) -> train 3, 6; b: 5(1) 7(9) 2(5)... sorted 5, 2, 7
    assert train.groupby("user_id")["item_id"].apply(list).to_dict() == {"a": ["3", "6"], "b": ["5"]}


def test_temporal_cut_keeps_only_interactions_strictly_before_the_cut():
    inter = pd.DataFrame({
        "user_id": ["a", "b", "a", "a", "b", "c"],
        "item_id": ["1", "2", "3", "4", "5", "6"],
        "timestamp": [30, 5, 10, 20, 40, 50],
    })
    cut = temporal_cut(inter, 0.5)  # median of 5, 10, 20, 30, 40, 50
    assert cut == 25.0
    train = training_interactions(inter, cut_time=cut)
    # no holdout at the end of each user's pre-cut history; c has nothing before the cut
    assert train.groupby("user_id")["item_id"].apply(list).to_dict() == {"a": ["3", "4"], "b": ["2"]}


@pytest.mark.parametrize("quantile", [0, 1, 1.5, -0.1])
def test_temporal_cut_rejects_a_quantile_outside_the_open_interval(quantile):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        temporal_cut(pd.DataFrame({"timestamp": [1, 2]}), quantile)


def test_float32_time_key_merges_close_timestamps_like_recbole():
    raw = np.array([892738452.0, 892738453.0, 800000000.0, 893286638.0])
    assert recbole_time_key(raw, normalized=False)[0] == recbole_time_key(raw, normalized=False)[1]
    scaled = recbole_time_key(raw, normalized=True)
    assert scaled[0] == scaled[1] and scaled[2] == 0.0 and scaled[3] == 1.0
    inter = pd.DataFrame({"user_id": ["u"] * 4, "item_id": ["late", "early", "first", "last"],
                          "timestamp": raw[[1, 0, 2, 3]]})
    # "late" (…453) precedes "early" (…452) in the file; float32 merges them, so file order wins
    assert training_interactions(inter, holdout=1)["item_id"].tolist() == ["first", "late", "early"]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="interaction table has no column 'timestamp'"):
        training_interactions(pd.DataFrame({"user_id": [1], "item_id": [2]}))


def test_agrees_with_recboles_split_on_ml100k(build_data):
    config = {"MAX_ITEM_LIST_LENGTH": 5, "train_neg_sample_args": None, "state": "ERROR"}
    recbole_config, dataset, train, valid, test = build_data("SASRec", config)
    inter, _ = read_atomic(f"{ML100K_DIR}/ml-100k.inter")
    assert time_is_normalized(recbole_config)
    ours = training_interactions(inter, normalized_time=True)
    key = recbole_time_key(inter["timestamp"], normalized=True)  # over the whole file, as RecBole scales
    held_out = inter.drop(index=ours.index)
    held_out = held_out.iloc[np.lexsort((key[held_out.index], held_out["user_id"]))]
    last = held_out.groupby("user_id").nth(-1).set_index("user_id")["item_id"]
    second_last = held_out.groupby("user_id").nth(0).set_index("user_id")["item_id"]

    def targets(loader):
        feat = loader._dataset.inter_feat
        users = dataset.id2token("user_id", feat["user_id"].numpy())
        items = dataset.id2token("item_id", feat["item_id"].numpy())
        return pd.Series(items, index=users).sort_index()

    assert (targets(test) == last.sort_index()).all()
    assert (targets(valid) == second_last.sort_index()).all()
    train_rows = pd.Series(dataset.id2token("user_id", train._dataset.inter_feat["user_id"].numpy())).value_counts()
    np.testing.assert_array_equal(
        train_rows.sort_index().to_numpy(), ours["user_id"].value_counts().sort_index().to_numpy() - 1
    )


def test_leave_one_out_roles_follow_the_time_order_not_the_file_order():
    inter = pd.DataFrame({"user_id": ["a"] * 4 + ["b"] * 3, "item_id": list("pqrsxyz"),
                          "timestamp": [4, 1, 3, 2, 9, 8, 7]})
    roles = leave_one_out_roles(inter.iloc[::-1], normalized_time=False)
    assert [roles[i] for i in range(7)] == ["test", "train", "valid", "train", "test", "valid", "train"]
