"""embed -> reduce -> write on profiles from the local server, with the real packaged encoder."""

import json
import os

import numpy as np
import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.embed import encoder_prefix, load_encoder, load_matrix, run_embed
from recbole_llmkd.profiles.reduce import load_reducer, reducer_path, run_reduce
from recbole_llmkd.profiles.write import manifest_path, run_write

PROFILES = {str(u): f"Preferences: {genre}. Behavioural patterns: rates {genre.lower()} highly, {u} times."
            for u, genre in zip(range(1, 41), ["Horror", "Comedy", "Drama", "Western", "Romance"] * 8)}


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.fixture
def config(tmp_path):
    """ml-100k options with 40 ready profiles in the output folder, as the generate step leaves them."""
    def make(**overrides):
        values = {"output_dir": str(tmp_path / "out"), "reducer": "pca", "n_components": 4, **overrides}
        return load_config(**values)
    out = tmp_path / "out"
    out.mkdir()
    (out / "profiles.jsonl").write_text("".join(json.dumps({"user": u, "profile": t}) + "\n" for u, t in PROFILES.items()))
    return make


def test_embeddings_are_normalised_and_cached(config, encoder):
    first = run_embed(config(), encoder=encoder, progress=False)
    assert (first["users"], first["embedded"], first["dims"], first["prefix"]) == (40, 40, 384, "")
    users, vectors = load_matrix(os.path.join(config().out, "embeddings.npz"), "embed")
    assert users[:3] == ["1", "2", "3"] and vectors.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.dot(vectors[0], vectors[5]) > np.dot(vectors[0], vectors[1])  # two horror fans vs horror/comedy
    second = run_embed(config(), encoder=encoder, progress=False)
    assert (second["embedded"], second["cached"]) == (0, 40)
    np.testing.assert_array_equal(load_matrix(os.path.join(config().out, "embeddings.npz"), "embed")[1], vectors)


@pytest.mark.parametrize("name,configured,expected", [
    ("intfloat/e5-small-v2", None, "query: "), ("/models/multilingual-e5-base", None, "query: "),
    ("all-MiniLM-L6-v2", None, ""), ("intfloat/e5-small-v2", "passage: ", "passage: "),
])
def test_e5_models_get_their_prefix(config, name, configured, expected):
    assert encoder_prefix(config(encoder_prefix=configured), name) == expected


@pytest.mark.parametrize("reducer,dims", [("pca", 4), ("umap", 3), ("none", 384)])
def test_reducers_honour_their_dims_and_are_saved(config, encoder, reducer, dims):
    cfg = config(reducer=reducer, n_components=3 if reducer == "umap" else 4, n_neighbors=5, min_dist=0.2)
    run_embed(cfg, encoder=encoder, progress=False)
    summary = run_reduce(cfg)
    users, reduced = load_matrix(os.path.join(cfg.out, "reduced.npz"), "reduce")
    assert reduced.shape == (40, dims) and summary["dims"] == dims and np.isfinite(reduced).all()
    saved = load_reducer(reducer_path(cfg))
    if reducer == "umap":
        assert (saved.n_neighbors, saved.min_dist, saved.metric, saved.random_state) == (5, 0.2, "cosine", 42)
    # a saved reducer maps users later, the same way
    later = run_reduce(config(reducer_file=reducer_path(cfg)))
    assert later["fitted"] is False
    again = load_matrix(os.path.join(cfg.out, "reduced.npz"), "reduce")[1]
    if reducer == "umap":
        assert again.shape == reduced.shape  # UMAP's transform of training points is near, not equal
    else:
        np.testing.assert_allclose(again, reduced, atol=1e-5)


def test_too_many_components_is_an_error(config, encoder):
    run_embed(config(), encoder=encoder, progress=False)
    with pytest.raises(ValueError, match="n_components=50 must be below the number of users"):
        run_reduce(config(n_components=50))


def test_steps_out_of_order_say_what_to_run(tmp_path):
    cfg = load_config(output_dir=str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="run the generate step first"):
        run_embed(cfg, encoder=("unused", "name"), progress=False)
    with pytest.raises(FileNotFoundError, match="run the embed step first"):
        run_reduce(cfg)
    with pytest.raises(FileNotFoundError, match="run the reduce step first"):
        run_write(cfg)


def test_write_gives_a_user_file_and_a_manifest(config, encoder):
    cfg = config()
    run_embed(cfg, encoder=encoder, progress=False)
    run_reduce(cfg)
    summary = run_write(cfg)
    assert summary["user_file"].endswith("ml-100k.user") and summary["users_without_profile"] == 903
    table, types = read_atomic(summary["user_file"])
    assert types == {"user_id": "token", "profile_emb": "float_seq"}
    assert table["user_id"].tolist() == [str(u) for u in range(1, 41)]
    reduced = load_matrix(os.path.join(cfg.out, "reduced.npz"), "reduce")[1]
    np.testing.assert_allclose([[float(v) for v in row.split()] for row in table["profile_emb"]], reduced, rtol=1e-6)
    manifest = json.load(open(manifest_path(summary["user_file"])))
    assert manifest["dims"] == 4 and manifest["users_profiled"] == 40 and manifest["users_in_dataset"] == 943
    assert manifest["reducer"]["name"] == "pca" and manifest["prompt"]["style"] == "short"
    assert len(manifest["dataset"]["inter_sha256"]) == 64
    assert manifest["split"] == {"leave_one_out_holdout": 2}


def test_user_file_must_end_in_dot_user(config, encoder):
    cfg = config(user_file=os.path.join(config().out, "profiles.txt"))
    run_embed(cfg, encoder=encoder, progress=False)
    run_reduce(cfg)
    with pytest.raises(ValueError, match="ending in .user"):
        run_write(cfg)
