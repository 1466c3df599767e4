"""The item cold-start protocol: which interactions go, and that RecBole splits the result as intended."""

import json

import pandas as pd
import pytest

from dataset_converters.base import ConversionError
from dataset_converters.cold_start import cold_start, main, write_cold_start

# 6 users; each one's last interaction (time 9) is the test target, time 8 the validation target.
INTER = pd.DataFrame({
    "user_id": [u for u in "abcdef" for _ in range(6)],
    "item_id": [i for u in range(6) for i in ["p", "q", "r", "s", f"v{u}", ["x", "y", "x", "y", "z", "z"][u]]],
    "timestamp": [t for _ in range(6) for t in (1, 2, 3, 4, 8, 9)],
})


@pytest.mark.parametrize("removed_share, keep", [(1.0, 3), (0.0, 2), (0.0, 10)])
def test_cold_items_lose_training_interactions_only(removed_share, keep):
    # test targets x, y, z; p, q, r, s are trained on by every user
    frame = INTER.copy()
    frame.loc[frame["item_id"] == "r", "item_id"] = "x"  # x also appears in training (6 times)
    kept, info = cold_start(frame, cold_fraction=1 / 3, removed_share=removed_share, keep=keep, seed=0,
                            normalized_time=False)
    assert info["cold_items"] == 1 and info["test_target_items"] == 3
    cold = (info["removed_items"] + info["downsampled_items"])[0]
    train_rows = kept[kept["timestamp"] < 8]
    expected = 0 if removed_share == 1.0 else min(keep, int((frame[frame["timestamp"] < 8]["item_id"] == cold).sum()))
    assert int((train_rows["item_id"] == cold).sum()) == expected
    assert (kept["timestamp"] >= 8).sum() == 12  # every validation and test row kept
    target_users = sorted(frame[(frame["timestamp"] == 9) & (frame["item_id"] == cold)]["user_id"])
    assert info["cold_test_users"] == target_users


def test_bad_options_are_refused():
    with pytest.raises(ConversionError, match="cold_fraction"):
        cold_start(INTER, cold_fraction=0)


@pytest.mark.parametrize("beside, raw_time, expected", [
    (None, False, False),                       # RecBole's default: no scaling
    ("normalize_all: True\n", False, True),     # the dataset's YAML scales every float field
    ("normalize_field: [timestamp]\n", False, True),
    ("normalize_all: True\n", True, False),     # --raw-time overrides it
])
def test_time_order_follows_how_recbole_loads_the_dataset(tmp_path, beside, raw_time, expected):
    folder = tmp_path / "toy"
    folder.mkdir()
    with open(folder / "toy.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        INTER.to_csv(f, sep="\t", header=False, index=False, lineterminator="\n")
    if beside:
        (folder / "toy.yaml").write_text(beside)
    _, info = write_cold_start(str(folder), "toy", str(tmp_path / "out"), cold_fraction=1 / 3,
                               normalized_time=False if raw_time else None)
    assert info["normalized_time"] is expected
    assert (info["interactions"], info["test_target_items"]) == (36, 3)


@pytest.mark.slow
def test_recbole_splits_the_written_dataset_as_the_converter_did(run_dir):
    from recbole_llmkd.integration.quick_start import prepare_run

    assert main(["-d", "ml-100k", "--output", "data"]) == 0
    info = json.loads((run_dir / "data" / "ml-100k-coldstart" / "ml-100k-coldstart.cold.json").read_text())
    assert info["cold_items"] == round(0.4 * info["test_target_items"])
    _, dataset, train, _, test = prepare_run("SASRec", "ml-100k-coldstart", {
        "data_path": "data", "train_neg_sample_args": None, "checkpoint_dir": str(run_dir / "saved")})
    users = dataset.id2token("user_id", test._dataset.inter_feat["user_id"].numpy())
    targets = dataset.id2token("item_id", test._dataset.inter_feat["item_id"].numpy())
    cold = set(info["removed_items"]) | set(info["downsampled_items"])
    assert sorted(u for u, t in zip(users, targets) if t in cold) == info["cold_test_users"]
    # who trains on what: every (user, item) in a training target or history
    feat = train._dataset.inter_feat
    trained = set()
    for user, item, history in zip(feat["user_id"].numpy(), feat["item_id"].numpy(), feat["item_id_list"].numpy()):
        trained |= {(user, i) for i in history[history > 0]} | {(user, item)}
    per_item = pd.Series([dataset.id2token("item_id", i) for _, i in trained]).value_counts()
    assert not set(info["removed_items"]) & set(per_item.index)
    assert per_item.reindex(info["downsampled_items"]).fillna(0).max() <= info["keep"]
