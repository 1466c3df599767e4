"""Shared fixtures: RecBole's bundled ml-100k, a genre-histogram profile file built from it, and
tiny model configs that train in seconds on 2 CPU cores."""

import os

import numpy as np
import pandas as pd
import pytest
import recbole

import recbole_llmkd  # noqa: F401  (shims + registration)

ML100K_DIR = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")

# Every 10th user (by raw id) gets no row, to exercise users without a profile.
USERS_WITHOUT_PROFILE = {u for u in range(1, 944) if u % 10 == 0}


def genre_profiles(inter, item, holdout=2):
    """A user's share of each genre over its interactions except the last ``holdout`` (time order)."""
    genres = item.set_index("item_id:token")["class:token_seq"].fillna("").str.split()
    vocab = sorted({g for gs in genres for g in gs})
    onehot = pd.DataFrame(
        [[g in gs for g in vocab] for gs in genres], index=genres.index, columns=vocab, dtype=float
    )
    inter = inter.sort_values(["user_id:token", "timestamp:float"], kind="stable")
    train = inter[inter.groupby("user_id:token").cumcount(ascending=False) >= holdout]
    counts = onehot.reindex(train["item_id:token"].to_numpy()).fillna(0.0)
    counts.index = train["user_id:token"].to_numpy()
    hist = counts.groupby(level=0).sum()
    return hist.div(hist.sum(axis=1), axis=0)


def write_user_file(path, profiles, field="profile_emb"):
    lines = [f"user_id:token\t{field}:float_seq"]
    lines += [f"{uid}\t" + " ".join(f"{v:.6g}" for v in vec) for uid, vec in profiles.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def ml100k_frames():
    inter = pd.read_csv(os.path.join(ML100K_DIR, "ml-100k.inter"), sep="\t")
    item = pd.read_csv(os.path.join(ML100K_DIR, "ml-100k.item"), sep="\t")
    return inter, item


@pytest.fixture(scope="session")
def genre_profile_table(ml100k_frames):
    hist = genre_profiles(*ml100k_frames)
    return hist.drop(index=[u for u in hist.index if u in USERS_WITHOUT_PROFILE])


@pytest.fixture(scope="session")
def profile_file(tmp_path_factory, genre_profile_table):
    path = tmp_path_factory.mktemp("profiles") / "ml-100k-genres.user"
    return write_user_file(path, {u: row.to_numpy() for u, row in genre_profile_table.iterrows()})


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """RecBole writes ./log and ./log_tensorboard: run each test in its own folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_config(tmp_path, profile_file):
    """Small and fast: 2 epochs (1 distillation + 1 fine-tuning), users with <= 40 interactions."""
    return {
        "kd_profile_file": str(profile_file),
        "epochs": 2,
        "kd_epochs": 1,
        "n_layers": 2,
        "n_heads": 2,
        "hidden_size": 16,
        "inner_size": 32,
        "MAX_ITEM_LIST_LENGTH": 20,
        "user_inter_num_interval": "[0,40]",
        "train_batch_size": 256,
        "eval_batch_size": 4096,
        "checkpoint_dir": str(tmp_path / "saved"),
        "show_progress": False,
        "use_gpu": False,
        "state": "WARNING",
        "seed": 2020,
    }


def build(model, config_dict):
    """Config, dataset and the three dataloaders, as RecBole's run_recbole builds them."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    config = Config(model=model, dataset="ml-100k", config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    return config, dataset, train, valid, test


@pytest.fixture
def build_data(run_dir):
    return build
