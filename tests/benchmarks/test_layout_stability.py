"""benchmarks/layout_stability.py: neighbour overlap, the stability of a reducer under input noise,
and the command on a profile folder laid out as the grid writes it."""

import json
import os

import numpy as np
import pytest

from benchmarks import layout_stability
from recbole_llmkd.profiles.embed import save_matrix

# four points on a line: 0 and 1 are each other's nearest, as are 2 and 3
LINE = np.array([[0.0], [1.0], [5.0], [6.5]])


def test_neighbours_are_the_nearest_other_rows():
    assert layout_stability.neighbours(LINE, 1).ravel().tolist() == [1, 0, 3, 2]
    assert layout_stability.neighbours(LINE, 2).tolist() == [[1, 2], [0, 2], [3, 1], [2, 1]]


@pytest.mark.parametrize("a, b, expected", [
    ([[1, 2], [0, 2]], [[1, 2], [0, 2]], 1.0),
    ([[1, 2], [0, 2]], [[2, 1], [3, 4]], 0.5),  # order does not matter; row 2 shares nothing
    ([[1], [0]], [[2], [2]], 0.0),
])
def test_overlap_is_the_mean_share_of_neighbours_kept(a, b, expected):
    assert layout_stability.overlap(np.array(a), np.array(b)) == pytest.approx(expected)


@pytest.fixture
def embeddings():
    return np.random.default_rng(3).normal(size=(120, 24)).astype(np.float32)


def pca(n=4):
    from sklearn.decomposition import PCA

    return lambda: PCA(n_components=n, random_state=0)


def test_pca_barely_moves_under_float_noise(embeddings):
    row = layout_stability.stability(embeddings, pca(), noise=1e-7, seed=0, k=5)
    assert 0 < row["input_max_change"] < 1e-6
    assert row["output_max_change"] < 1e-4 * row["output_max_magnitude"]
    assert row["neighbours_shared"] == 1.0
    assert row["neighbours_kept_of_input"][0] == row["neighbours_kept_of_input"][1]


def test_large_noise_moves_the_neighbours(embeddings):
    row = layout_stability.stability(embeddings, pca(), noise=1.0, seed=0, k=5)
    assert row["output_max_change"] > 0.5 and row["neighbours_shared"] < 0.9


def test_the_command_reads_the_grids_profile_folder(tmp_path, embeddings):
    folder = tmp_path / "grid" / "ml-100k" / "llm"
    folder.mkdir(parents=True)
    (folder / "ml-100k.user").write_text("")  # the grid's finished build: it is not rebuilt
    wide = np.hstack([embeddings, embeddings ** 2])  # 48 dims: above the 32 the dataset's profile options reduce to
    save_matrix(str(folder / "embeddings.npz"), [str(u) for u in range(1, 121)], wide)
    out = tmp_path / "stability.json"
    result = layout_stability.main(["--work", str(tmp_path / "grid"), "--reducers", "pca", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["users"] == 120 and result["dims"] == 48 and list(result["reducers"]) == ["pca"]
    assert result["reducers"]["pca"]["neighbours_shared"] == 1.0
    assert result["command"].endswith("layout_stability.py --work " + str(tmp_path / "grid") + " --reducers pca --out "
                                      + str(out))
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporary file left
    with pytest.raises(SystemExit):
        layout_stability.main(["--work", str(tmp_path / "grid"), "--reducers", "pca", "-k", "120"])


@pytest.mark.parametrize("argv, message", [
    (["-d", "ml-1m"], "unknown dataset 'ml-1m'"),
    (["--noise", "0"], "--noise must be a finite number above 0 (got 0.0)"),
    (["--noise", "nan"], "(got nan)"),
    (["-k", "0"], "-k at least 1 (got 0)"),
])
def test_bad_arguments_are_refused(argv, message, capsys):  # refused before any profile is built
    with pytest.raises(SystemExit):
        layout_stability.main(argv)
    assert message in capsys.readouterr().err
