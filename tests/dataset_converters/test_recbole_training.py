"""Every converter's output loads in RecBole and a SASRec trains an epoch on it."""

import numpy as np
import pytest

from dataset_converters import convert
from recbole_llmkd.integration.quick_start import run_recbole_kd

N_USERS, N_ITEMS, PER_USER = 30, 12, 6


def synthetic_raw(dataset, folder):
    """Raw files of each format: 30 users with 6 interactions each over 12 items."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    rows = [(u, int(i), 1_600_000_000 + 86_400 * k) for u in range(1, N_USERS + 1)
            for k, i in enumerate(rng.choice(N_ITEMS, PER_USER, replace=False) + 1)]
    if dataset == "beauty":
        (folder / "ratings_Beauty.csv").write_text("".join(f"U{u},B{i},5.0,{t}\n" for u, i, t in rows))
        (folder / "meta_Beauty.json").write_text(
            "".join(f"{{'asin': 'B{i}', 'title': 'Item {i}', 'categories': [['Beauty']]}}\n" for i in range(1, N_ITEMS + 1)))
    elif dataset == "movielens":
        (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},4.0,{t}\n" for u, i, t in rows))
        (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
            f"{i},Movie {i} (199{i % 10}),Drama|Comedy\n" for i in range(1, N_ITEMS + 1)))
    elif dataset == "kion":
        (folder / "interactions.csv").write_text("user_id,item_id,last_watch_dt,total_dur,watched_pct\n" + "".join(
            f"{u},{i},2021-{3 + k // 28:02d}-{1 + k % 28:02d},100,50.0\n" for u, i, k in
            [(u, i, (t - 1_600_000_000) // 86_400) for u, i, t in rows]))
        (folder / "items.csv").write_text("item_id,title\n" + "".join(f"{i},Film {i}\n" for i in range(1, N_ITEMS + 1)))
    else:
        sessions = {}
        for u, i, _ in rows:
            sessions.setdefault(u, []).append(f"B{i:02d}")
        (folder / "sessions_train.csv").write_text("prev_items,next_item,locale\n" + "".join(
            "\"[" + " ".join(f"'{x}'" for x in items[:-1]) + f"]\",{items[-1]},DE\n" for items in sessions.values()))
        (folder / "products_train.csv").write_text("id,locale,title\n" + "".join(
            f"B{i:02d},DE,Product {i}\n" for i in range(1, N_ITEMS + 1)))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["beauty", "movielens", "kion", "amazon-m2"])
def test_converted_dataset_trains_in_recbole(dataset, tmp_path, monkeypatch):
    synthetic_raw(dataset, tmp_path / "raw")
    folder, summary = convert(dataset, tmp_path / "raw", tmp_path / "data")
    assert (summary.users, summary.interactions) == (N_USERS, N_USERS * PER_USER)
    monkeypatch.chdir(tmp_path)
    result = run_recbole_kd(model="SASRec", dataset=summary.name, config_dict={
        "data_path": str(tmp_path / "data"), "epochs": 1, "MAX_ITEM_LIST_LENGTH": 5, "hidden_size": 8,
        "inner_size": 16, "checkpoint_dir": str(tmp_path / "saved"), "state": "ERROR", "show_progress": False,
        "use_gpu": False,
    })
    assert 0.0 <= result["test_result"]["recall@10"] <= 1.0
