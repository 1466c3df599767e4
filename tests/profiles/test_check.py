"""The teacher check: kNN voting in profile space against shuffled profiles, on real ml-100k."""

import numpy as np
import pytest
from scipy import sparse

from recbole_llmkd.formats.files import write_profile_file
from recbole_llmkd.profiles.check import (BLEND_WEIGHTS, blended_ndcg, check_profiles, complementarity,
                                          complementarity_verdict, format_check, knn_ndcg, neighbour_lists,
                                          read_profile_vectors, verdict)
from recbole_llmkd.profiles.cli import main as cli_main
from recbole_llmkd.profiles.config import load_config


def test_knn_ndcg_by_hand():
    # u0 trained on item 0, u1 on 0 and 1, u2 on 2; popularity breaks ties (2, 1, 1, 0)
    train = sparse.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]], dtype=float))
    neighbours = np.array([[1], [0], [1]])
    targets = np.array([1, 3, 3])
    popularity = np.array([2.0, 1.0, 1.0, 0.0])
    ndcg = knn_ndcg(neighbours, train, targets, popularity)
    # u0: u1 votes for items 0 (own: excluded) and 1 -> item 1 first; u1: only items 2, 3 left, 2 is more
    # popular -> rank 2; u2: u1's items 0 and 1 come first -> rank 3
    assert ndcg == pytest.approx([1.0, 1 / np.log2(3), 1 / np.log2(4)])


def test_blend_ends_are_the_two_neighbourhoods_alone():
    rng = np.random.default_rng(3)
    train = sparse.csr_matrix((rng.random((30, 12)) < 0.3).astype(float))
    by_items, by_profiles = rng.integers(0, 30, size=(30, 4)), rng.integers(0, 30, size=(30, 4))
    targets, popularity = rng.integers(0, 12, size=30), np.asarray(train.sum(axis=0)).ravel()
    blended = blended_ndcg(by_items, by_profiles, train, targets, popularity, block=7)
    assert blended.shape == (30, len(BLEND_WEIGHTS))
    np.testing.assert_array_equal(blended[:, 0], knn_ndcg(by_items, train, targets, popularity))
    np.testing.assert_array_equal(blended[:, -1], knn_ndcg(by_profiles, train, targets, popularity))


def test_complementarity_chooses_the_weight_on_one_half_and_reports_the_other():
    blended = np.zeros((8, 3))
    blended[:, 0] = 0.5
    blended[:, 1] = [1.0] * 8  # w 0.5 doubles every user's NDCG
    blended[:, 2] = 0.6
    result = complementarity(blended, np.ones(8, dtype=bool), np.random.default_rng(0), bootstrap=50,
                             weights=(0.0, 0.5, 1.0))
    assert result["weight"] == 0.5 and result["change"] == pytest.approx(1.0)
    assert result["change_ci95"] == pytest.approx([1.0, 1.0])
    assert (result["users_chosen_on"], result["users_reported_on"]) == (4, 4)
    # users not evaluated count as 0 on both sides
    half = complementarity(blended, np.arange(8) < 4, np.random.default_rng(0), bootstrap=50, weights=(0.0, 0.5, 1.0))
    assert half["ndcg@10_blend"] == pytest.approx(2 * half["ndcg@10_interactions"])


@pytest.mark.parametrize("real, shuffled, word", [
    ((0.05, 0.01), 0.02, "complements"), ((0.05, 0.01), 0.06, "smooths only"), ((0.05, -0.01), 0.0, "adds nothing"),
])
def test_complementarity_verdicts(real, shuffled, word):
    real = {"change": real[0], "change_ci95": [real[1], 0.1]}
    assert complementarity_verdict(real, {"change": shuffled}).startswith(word + ":")


def test_neighbours_use_cosine_of_standardised_vectors():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])
    assert neighbour_lists(vectors, 1).ravel().tolist() == [1, 0, 3, 2]


@pytest.mark.parametrize("low, high, word", [(1.1, 1.5, "signal"), (0.9, 1.2, "no signal"), (0.5, 0.9, "anti-signal")])
def test_verdicts(low, high, word):
    assert verdict(low, high).startswith(word + ":")


def test_profile_vectors_skip_empty_and_zero_rows(tmp_path):
    path = tmp_path / "p.user"
    path.write_text("user_id:token\tprofile_emb:float_seq\n1\t1 2\n2\t\n3\t0 0\n4\t-1 0.5\n")
    users, matrix = read_profile_vectors(str(path))
    assert users == ["1", "4"]
    assert matrix.tolist() == [[1.0, 2.0], [-1.0, 0.5]]


@pytest.mark.parametrize("body, message", [
    ("1\t1 x\n", r"p.user line 2 \(user '1'\): 'x' in field 'profile_emb' is not a number"),
    ("1\t1 2\n2\t1 2 3\n", r"p.user line 3 \(user '2'\): profile has 3 values, expected 2"),
    ("1\t\n", "no user has a profile vector"),
])
def test_bad_profile_files(tmp_path, body, message):
    path = tmp_path / "p.user"
    path.write_text("user_id:token\tprofile_emb:float_seq\n" + body)
    with pytest.raises(ValueError, match=message):
        read_profile_vectors(str(path))


def test_genre_profiles_carry_signal_and_random_vectors_do_not(profile_file, genre_profile_table, tmp_path):
    config = load_config(dataset="ml-100k")
    genres = check_profiles(config, str(profile_file), neighbours=50, permutations=3, bootstrap=200)
    assert genres["users"] == len(genre_profile_table) == 849
    assert genres["ndcg@10"] == pytest.approx(0.06485, abs=1e-5)
    assert genres["lift"] == pytest.approx(1.948, abs=1e-3)
    assert genres["verdict"].startswith("signal:")
    assert genres["lift_interaction_knn"] > genres["lift"] > 1
    # blending genre neighbours into interaction neighbours: +7.6% on the reported half, not
    # separable from 0 on 425 users; shuffled genre vectors choose w 0 (nothing to add)
    blend = genres["complementarity"]
    assert (blend["weight"], blend["change"], blend["users_reported_on"]) == (0.6, pytest.approx(0.0764, abs=1e-4), 425)
    assert blend["change_ci95"][0] < 0 < blend["change_ci95"][1]
    assert genres["complementarity_shuffled"]["weight"] == 0.0
    assert genres["complementarity_verdict"].startswith("adds nothing:")
    assert "Complementarity: +7.6% (95% CI" in format_check(genres)
    sample = check_profiles(config, str(profile_file), neighbours=50, permutations=3, bootstrap=200, sample_users=400)
    assert sample["users"] == 400 and sample["sample_users"] == 400 and sample["lift"] > 1

    random_file = write_profile_file(tmp_path / "random.user", genre_profile_table.index.tolist(),
                                     np.random.default_rng(0).standard_normal(genre_profile_table.shape))
    noise = check_profiles(config, str(random_file), neighbours=50, permutations=3, bootstrap=200)
    assert noise["lift_ci95"][0] < 1 < noise["lift_ci95"][1]
    assert noise["verdict"].startswith("no signal:")
    assert "no better than shuffled profiles" in format_check(noise)


def test_check_from_the_command_line(profile_file, capsys):
    result = cli_main(["check", "-d", "ml-100k", "--user-file", str(profile_file), "--permutations", "2"])
    assert result["permutations"] == 2
    assert capsys.readouterr().out.startswith(f"{profile_file}: lift ")


def test_check_refuses_a_temporal_split(profile_file):
    with pytest.raises(ValueError, match="leave-one-out"):
        check_profiles(load_config(dataset="ml-100k", cut_quantile=0.8), str(profile_file))
