"""Shared fixtures: RecBole's bundled ml-100k, a genre-histogram profile file built from it, and
tiny model configs that train in seconds on 2 CPU cores."""

import os

import pytest
import recbole

import recbole_llmkd
from recbole_llmkd.integration.quick_start import prepare_run
from recbole_llmkd.formats.files import read_atomic, write_profile_file
from recbole_llmkd.profiles.metadata import category_shares

recbole_llmkd.register()  # the tests use RecBole's own entry points too

ML100K_DIR = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")

# Every 10th user (by raw id) gets no row, to exercise users without a profile.
USERS_WITHOUT_PROFILE = {u for u in range(1, 944) if u % 10 == 0}


@pytest.fixture(scope="session")
def genre_profile_table():
    """ml-100k genre shares (users x 19 genres), without the users of USERS_WITHOUT_PROFILE."""
    inter, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.inter"))
    item, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.item"))
    shares = category_shares(inter, item, "class")
    return shares.drop(index=[u for u in shares.index if int(u) in USERS_WITHOUT_PROFILE])


@pytest.fixture(scope="session")
def profile_file(tmp_path_factory, genre_profile_table):
    path = tmp_path_factory.mktemp("profiles") / "ml-100k-genres.user"
    return write_profile_file(path, genre_profile_table.index.tolist(), genre_profile_table.to_numpy())


def converted_dataset_folder(tmp_path, settings_yaml, name="shop"):
    """A data_path with ``<name>/<name>.yaml`` (``settings_yaml``) beside where its atomic files go, as
    ``dataset_converters`` writes it; returns the data_path."""
    folder = tmp_path / "data" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text(settings_yaml)
    return str(tmp_path / "data")


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """RecBole writes ./log and ./log_tensorboard: run each test in its own folder.

    Every TensorBoard writer a trainer opens is closed before the test leaves the folder: an open
    writer's thread would otherwise flush later into a relative path that no longer exists."""
    from torch.utils.tensorboard import SummaryWriter

    writers = []
    original_init = SummaryWriter.__init__

    def tracked_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        writers.append(self)

    monkeypatch.setattr(SummaryWriter, "__init__", tracked_init)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for writer in writers:
        writer.close()


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
    return prepare_run(model, "ml-100k", config_dict)


@pytest.fixture
def build_data(run_dir):
    return build


def write_movielens_sample(folder, users=40, movies=60, seed=0):
    """A MovieLens release in miniature (``ratings.csv`` with ten-digit timestamps, ``movies.csv`` with
    years and genres), deterministic: each user rates 6 to 12 movies a few minutes apart."""
    import random

    rng = random.Random(seed)
    genres = ["Drama", "Comedy", "Action", "Horror", "Romance"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "movies.csv"), "w", encoding="utf-8") as f:
        f.write("movieId,title,genres\n")
        for movie in range(1, movies + 1):
            f.write(f"{movie},Movie {movie} ({1980 + movie % 30}),{genres[movie % 5]}|{genres[movie * 3 % 5]}\n")
    with open(os.path.join(folder, "ratings.csv"), "w", encoding="utf-8") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for user in range(1, users + 1):
            time = 964982703 + user * 1000
            for movie in rng.sample(range(1, movies + 1), rng.randint(6, 12)):
                time += rng.randint(60, 5000)
                f.write(f"{user},{movie},{rng.choice([1, 2, 3, 3.5, 4, 4.5, 5])},{time}\n")
    return folder


@pytest.fixture
def movielens_sample(tmp_path):
    """The raw folder of :func:`write_movielens_sample` (40 users, 357 ratings, 60 movies)."""
    return write_movielens_sample(str(tmp_path / "raw"))
