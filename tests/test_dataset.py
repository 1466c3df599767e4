"""The KD dataset: profiles loaded as a user feature, the baseline's split kept, bad files refused."""

import numpy as np
import pytest
import torch

from recbole_llmkd.dataset import ProfileFileError
from tests.conftest import USERS_WITHOUT_PROFILE

SMALL = {
    "MAX_ITEM_LIST_LENGTH": 20,
    "user_inter_num_interval": "[0,40]",
    "train_neg_sample_args": None,
    "state": "WARNING",
}


@pytest.fixture
def config(tmp_path, profile_file):
    return {**SMALL, "kd_profile_file": str(profile_file), "checkpoint_dir": str(tmp_path / "saved")}


def test_split_is_the_baselines(build_data, config):
    _, base_ds, *base_loaders = build_data("SASRec", config)
    _, kd_ds, *kd_loaders = build_data("SASRecKD", config)
    assert kd_ds.user_num == base_ds.user_num and kd_ds.item_num == base_ds.item_num
    for base, kd in zip(base_loaders, kd_loaders):
        for field in ("user_id", "item_id", "item_id_list", "item_length"):
            assert torch.equal(base._dataset.inter_feat[field], kd._dataset.inter_feat[field]), field
    assert "profile_emb" in next(iter(kd_loaders[0]))


def test_profiles_are_loaded_unnormalised(build_data, config, genre_profile_table):
    cfg, dataset, *_ = build_data("SASRecKD", config)
    assert cfg["normalize_all"] is True  # ml-100k's YAML: ratings are min-max scaled ...
    assert float(dataset.inter_feat["rating"].max()) == 1.0
    profiles = dataset.user_feat["profile_emb"]
    for token in ("1", "7", "942"):
        if token not in dataset.field2token_id["user_id"]:
            continue
        uid = dataset.token2id("user_id", token)
        expected = genre_profile_table.loc[token].to_numpy()
        np.testing.assert_allclose(profiles[uid].numpy(), expected, rtol=1e-5, atol=1e-6)  # ... profiles are not


def test_users_without_profile_keep_their_interactions(build_data, config):
    _, base_ds, *_ = build_data("SASRec", config)
    _, dataset, *_ = build_data("SASRecKD", config)
    tokens = dataset.id2token("user_id", np.unique(dataset.inter_feat["user_id"].numpy()))
    missing = [t for t in tokens if int(t) in USERS_WITHOUT_PROFILE]
    assert missing, "the fixture should leave some users without a profile"
    for token in missing:
        uid = dataset.token2id("user_id", token)
        assert not dataset.user_feat["profile_emb"][uid].any()
        assert (dataset.inter_feat["user_id"] == uid).sum() == (base_ds.inter_feat["user_id"] == uid).sum() > 0
    assert dataset.profile_coverage() == (len(tokens) - len(missing), len(tokens))


def write(path, text):
    path.write_text(text)
    return str(path)


# users 4, 9 and 17 have at most 40 interactions, so they survive the SMALL filter
GOOD = "user_id:token\tprofile_emb:float_seq\n4\t0.1 0.2 0.3 0.4\n9\t1 2 3 4\n17\t-1 0 1 2\n"


def test_empty_cell_means_no_profile(build_data, config, tmp_path):
    config["kd_profile_file"] = write(tmp_path / "p.user", GOOD.replace("9\t1 2 3 4", "9\t"))
    _, dataset, *_ = build_data("SASRecKD", config)
    rows = dataset.user_feat["profile_emb"]
    assert rows.shape[1] == 4
    assert rows[dataset.token2id("user_id", "9")].tolist() == [0.0] * 4
    assert rows[dataset.token2id("user_id", "17")].tolist() == [-1.0, 0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "text, extra, message",
    [
        (GOOD.replace("profile_emb", "other"), {}, r"p\.user: the header has no field 'profile_emb:float_seq'"),
        (GOOD.replace("float_seq", "float").replace("0.1 0.2 0.3 0.4", "0.1").replace("1 2 3 4", "1")
         .replace("-1 0 1 2", "2"), {}, "declared as float; expected float_seq"),
        (GOOD.replace("-1 0 1 2", "-1 0 1"), {}, r"p\.user line 4 \(user '17'\): profile has 3 values, expected 4"),
        (GOOD, {"kd_profile_dim": 5}, r"line 2 \(user '4'\): profile has 4 values, expected 5"),
        (GOOD.replace("1 2 3 4", "1 nan 3 4"), {}, r"line 3 \(user '9'\): profile contains NaN or inf"),
        (GOOD.replace("-1 0 1 2", "-1 inf 1 2"), {}, r"line 4 \(user '17'\): profile contains NaN or inf"),
        (GOOD + "9\t5 5 5 5\n", {}, r"line 5: user '9' has more than one row"),
        ("user_id:token\tprofile_emb:float_seq\n4\t\n9\t\n", {}, "no user has a profile vector"),
        (GOOD, {"normalize_all": False, "normalize_field": ["profile_emb"]}, "normalize_field"),
        (GOOD, {"unload_col": {"user": ["profile_emb"]}}, "unload_col"),
        (GOOD.replace("\n4\t", "\n1\t").replace("\n9\t", "\n2\t").replace("\n17\t", "\n3\t"), {},
         "none of its users remains after filtering"),
    ],
    ids=["no-field", "not-float-seq", "wrong-length", "wrong-dim", "nan", "inf", "duplicate", "empty",
         "normalize-field", "unload-col", "all-filtered"],
)
def test_bad_profile_files_fail_before_training(build_data, config, tmp_path, text, extra, message):
    config.update(extra, kd_profile_file=write(tmp_path / "p.user", text))
    with pytest.raises(ValueError, match=message):
        build_data("SASRecKD", config)


def test_missing_profile_file(build_data, config, tmp_path):
    config["kd_profile_file"] = str(tmp_path / "absent.user")
    with pytest.raises(ProfileFileError, match=r"absent\.user not found"):
        build_data("SASRecKD", config)


def test_profile_file_must_be_a_user_atomic_file(build_data, config, tmp_path):
    config["kd_profile_file"] = write(tmp_path / "profiles.tsv", GOOD)
    with pytest.raises(ProfileFileError, match=r"named \*\.user"):
        build_data("SASRecKD", config)
