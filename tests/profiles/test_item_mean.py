"""item_mean: the no-LLM teacher (mean sentence embedding of the training items), with the real encoder."""

import json
import os

import numpy as np
import pytest

from recbole_llmkd.profiles.cli import run_step
from recbole_llmkd.profiles.embed import load_encoder, load_matrix
from recbole_llmkd.profiles.item_mean import run_item_mean, user_item_lists


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


def test_training_items_only_oldest_first(toy_config):
    from recbole_llmkd.profiles.history import load_tables

    config = toy_config()
    inter, _, _ = load_tables(config)
    # by time: u1 i1 i3 i2 | i4 i5 held out; u2 i4 | i6 i2; u3 i3 i5 i1 i6 | i2 i4
    assert user_item_lists(inter, config) == {"u1": ["i1", "i3", "i2"], "u2": ["i4"], "u3": ["i3", "i5", "i1", "i6"]}
    assert user_item_lists(inter, toy_config(max_items=2))["u3"] == ["i1", "i6"]


def test_user_vector_is_the_normalised_mean_of_its_items(toy_config, encoder):
    config = toy_config(max_items=2)
    summary = run_item_mean(config, encoder=encoder, progress=False)
    assert (summary["users"], summary["items_embedded"], summary["dims"]) == (3, 5, 384)  # i5 only in u3's older items
    users, vectors = load_matrix(os.path.join(config.out, "embeddings.npz"), "item_mean")
    assert users == ["u1", "u2", "u3"]
    model, _ = encoder
    items = model.encode(["Casablanca | 1942 | Drama, Romance, War", "Heat | 1995 | Action, Crime, Thriller"],
                         normalize_embeddings=True)
    expected = items.mean(axis=0) / np.linalg.norm(items.mean(axis=0))
    assert np.allclose(vectors[0], expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_all_with_source_item_mean_writes_a_user_file_without_an_llm(toy_config, encoder, monkeypatch):
    import recbole_llmkd.profiles.item_mean as item_mean

    monkeypatch.setattr(item_mean, "load_encoder", lambda *args: encoder)  # the same model, loaded once
    config = toy_config(source="item_mean", reducer="pca", n_components=2)
    summaries = run_step("all", config, progress=False)
    assert list(summaries) == ["item_mean", "reduce", "write"]
    with open(config.user_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "user_id:token\tprofile_emb:float_seq" and len(lines) == 4
    with open(config.user_path[:-len(".user")] + ".manifest.json", encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["source"] == "item_mean" and manifest["llm"] is None
    assert manifest["encoder"]["items_embedded"] == 6


def test_unknown_source_is_refused(toy_config):
    with pytest.raises(ValueError, match="source must be one of"):
        toy_config(source="oracle")
