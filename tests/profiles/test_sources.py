"""build_profile_file: one builder for every teacher (llm, item_mean, metadata) and control (random, shuffled)."""

import json
import os

import numpy as np
import pytest

from recbole_llmkd.formats.files import read_atomic, write_profile_file
from recbole_llmkd.user_errors import RunFailed
from recbole_llmkd.profiles.generate import ProfilesNotCached
from recbole_llmkd.profiles.sources import (build_profile_file, derangement, write_random_profiles,
                                           write_shuffled_profiles)


def test_llm_source_without_generation_stops_before_any_request(toy_config, openai_server):
    config = toy_config(backend="openai", model="tiny", base_url=openai_server.base_url, context_length=4096)
    with pytest.raises(ProfilesNotCached, match=r"toy: the profile caches do not cover 3 of 3 users' prompts.*"
                                                r"python -m recbole_llmkd.profiles generate -d toy --output-dir"):
        build_profile_file(config, "llm", allow_generate=False, progress=False)
    assert openai_server.requests == []
    assert not os.path.exists(config.user_path)


def test_llm_source_generates_then_a_cached_only_run_needs_no_server(toy_config, openai_server):
    settings = dict(backend="openai", model="tiny", context_length=4096, reducer="pca", n_components=2)
    config = toy_config(base_url=openai_server.base_url, **settings)
    summaries = build_profile_file(config, "llm", progress=False)
    assert list(summaries) == ["generate", "embed", "reduce", "write"]
    assert (summaries["generate"]["generated"], len(openai_server.requests)) == (3, 3)
    first, _ = read_atomic(config.user_path)

    again = toy_config(base_url="http://127.0.0.1:9/v1", **settings)  # nothing listens there
    summaries = build_profile_file(again, "llm", allow_generate=False, progress=False)
    assert (summaries["generate"]["cached"], summaries["generate"]["generated"]) == (3, 0)
    assert read_atomic(again.user_path)[0].equals(first)


def test_metadata_source_embeds_the_genre_texts(toy_config):
    config = toy_config(reducer="pca", n_components=2)
    summaries = build_profile_file(config, "metadata", progress=False)
    assert list(summaries) == ["metadata", "embed", "reduce", "write"] and summaries["metadata"] == {"users": 3}
    with open(f"{config.out}/profiles.jsonl", encoding="utf-8") as f:
        texts = {r["user"]: r["profile"] for r in map(json.loads, f)}
    # leave-one-out: u2 trains on i4 (t 10) only -> Animation, Children's, Comedy a third each
    assert texts["u2"] == "Favourite genres: Animation 33%, Children's 33%, Comedy 33%."
    table, types = read_atomic(config.user_path)
    assert sorted(table["user_id"].astype(str)) == ["u1", "u2", "u3"] and types["profile_emb"] == "float_seq"


def test_random_source_copies_the_reference_users_and_dims(tmp_path, toy_config):
    reference = write_profile_file(tmp_path / "ref.user", ["7", "3", "5"], np.ones((3, 4)))
    config = toy_config()
    summaries = build_profile_file(config, "random", reference_file=str(reference))
    assert summaries["random"]["users"] == 3 and summaries["random"]["dims"] == 4
    table, _ = read_atomic(config.user_path)
    assert table["user_id"].astype(str).tolist() == ["7", "3", "5"]
    vectors = np.array([[float(x) for x in str(v).split()] for v in table["profile_emb"]])
    np.testing.assert_allclose(vectors, np.random.default_rng(0).standard_normal((3, 4)), rtol=1e-6)


@pytest.mark.parametrize("source, kwargs, message", [
    ("genres", {}, "profile source 'genres'; expected one of llm, item_mean, metadata, llm_states, llm_item_mean, random, shuffled"),
    ("random", {}, "profile source 'random' needs reference_file"),
    ("shuffled", {}, "profile source 'shuffled' needs reference_file: the .user file whose vectors it permutes"),
])
def test_bad_sources(toy_config, source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_profile_file(toy_config(), source, **kwargs)


def test_random_profiles_are_reproducible(tmp_path):
    reference = write_profile_file(tmp_path / "ref.user", ["1", "2"], np.zeros((2, 3)))
    write_random_profiles(str(reference), str(tmp_path / "a" / "x.user"))
    write_random_profiles(str(reference), str(tmp_path / "b" / "x.user"))
    assert (tmp_path / "a" / "x.user").read_text() == (tmp_path / "b" / "x.user").read_text()


def test_random_profiles_keep_the_configured_field_names(tmp_path):
    """A dataset whose user field is not user_id, trained with another kd_profile_field."""
    reference = write_profile_file(tmp_path / "ref.user", ["1", "2"], np.zeros((2, 3)), field="llm_vec",
                                   user_field="customer")
    write_random_profiles(str(reference), str(tmp_path / "x.user"))
    header, *rows = (tmp_path / "x.user").read_text().splitlines()
    assert header == "customer:token\tllm_vec:float_seq"
    assert [row.split("\t")[0] for row in rows] == ["1", "2"] and len(rows[0].split("\t")[1].split()) == 3


def test_shuffled_source_permutes_the_reference_vectors_across_users(tmp_path, toy_config):
    vectors = np.arange(20, dtype=float).reshape(5, 4) / 7
    reference = write_profile_file(tmp_path / "ref.user", ["a", "b", "c", "d", "e"], vectors)
    config = toy_config()
    summaries = build_profile_file(config, "shuffled", reference_file=str(reference))
    assert summaries["shuffled"]["users"] == 5 and summaries["shuffled"]["seed"] == 0
    ref, _ = read_atomic(str(reference))
    table, types = read_atomic(config.user_path)
    assert types == {"user_id": "token", "profile_emb": "float_seq"}
    assert table["user_id"].tolist() == ref["user_id"].tolist()
    # the same vector texts, byte for byte, none of them at its own user
    assert sorted(table["profile_emb"]) == sorted(ref["profile_emb"])
    assert not (table["profile_emb"] == ref["profile_emb"]).any()
    order = derangement(5, 0)
    assert table["profile_emb"].tolist() == [ref["profile_emb"][j] for j in order]


@pytest.mark.parametrize("n", [2, 3, 10, 943])
@pytest.mark.parametrize("seed", [0, 1])
def test_derangement_is_a_seeded_permutation_without_fixed_points(n, seed):
    order = derangement(n, seed)
    assert sorted(order) == list(range(n)) and not np.any(order == np.arange(n))
    assert np.array_equal(order, derangement(n, seed))


def test_shuffled_profiles_need_two_users(tmp_path):
    reference = write_profile_file(tmp_path / "ref.user", ["1"], np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"ref.user: 1 user\(s\); shuffling needs at least 2"):
        write_shuffled_profiles(str(reference), str(tmp_path / "out.user"))
    assert not (tmp_path / "out.user").exists()


def test_the_command_line_metadata_source_writes_the_grid_s_file(toy_config, tmp_path):
    """``python -m recbole_llmkd.profiles all --source metadata`` builds what the grid's metadata
    control builds: the same texts and the same .user rows."""
    from recbole_llmkd.profiles.cli import main

    grid = toy_config(reducer="pca", n_components=2)
    build_profile_file(grid, "metadata", progress=False)
    command = toy_config(reducer="pca", n_components=2, output_dir=str(tmp_path / "cli"))
    main(["all", "-d", "toy", "--data-path", command.data_path, "--output-dir", command.output_dir,
          "--source", "metadata", "--no-normalized-time", "--item-fields", "movie_title", "release_year", "class",
          "--list-fields", "class", "--reducer", "pca", "--n-components", "2", "--quiet"])
    for name in ("profiles.jsonl", "toy.user"):
        with open(os.path.join(grid.out, name), encoding="utf-8") as a, \
                open(os.path.join(command.out, name), encoding="utf-8") as b:
            assert a.read() == b.read()
    with open(os.path.join(command.out, "metadata.summary.json"), encoding="utf-8") as f:
        assert json.load(f) == {"users": 3}


@pytest.mark.parametrize("source", ["random", "shuffled"])
def test_the_command_line_writes_the_controls_from_a_reference(tmp_path, source):
    """``python -m recbole_llmkd.profiles all --source random --reference-file ...``: every source of
    recbole_llmkd.profiles.sources has the one spelling on the command line too."""
    from recbole_llmkd.profiles import cli

    reference = write_profile_file(tmp_path / "ref.user", ["1", "2", "3"], np.arange(6, dtype=float).reshape(3, 2))
    out = tmp_path / "out.user"
    cli.main(["all", "--source", source, "--reference-file", str(reference), "--user-file", str(out), "--quiet"])
    header, *rows = out.read_text().splitlines()
    assert header == "user_id:token\tprofile_emb:float_seq" and len(rows) == 3
    with pytest.raises(RunFailed, match="run `all`"):
        cli.main(["write", "--source", source, "--reference-file", str(reference), "--user-file", str(out)])

