"""The release the new-dataset cost benchmark writes is ml-100k, row for row, and converts under a new name."""

import subprocess
import sys

import pandas as pd

from benchmarks.new_dataset_generation import NAME, write_movielens_release


def test_release_is_ml100k_and_converts(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    assert write_movielens_release(raw) == (100_000, 1_682)
    ratings = pd.read_csv(raw / "ratings.csv")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert ratings.iloc[0].tolist() == [196, 242, 3, 881250949]  # ml-100k.inter's first row
    movies = pd.read_csv(raw / "movies.csv", keep_default_na=False)
    assert movies.iloc[0].tolist() == [1, "Toy Story (1995)", "Animation|Children's|Comedy"]
    subprocess.run([sys.executable, "-m", "dataset_converters", "movielens", "--input", str(raw),
                    "--output", str(tmp_path / "dataset"), "--name", NAME], check=True, capture_output=True)
    items = pd.read_csv(tmp_path / "dataset" / NAME / f"{NAME}.item", sep="\t", keep_default_na=False)
    first = items.iloc[0]
    assert (first["title:token"], first["year:token"], first["genres:token_seq"]) == (
        "Toy Story", "1995", "Animation Children's Comedy")
    assert sum(1 for _ in open(tmp_path / "dataset" / NAME / f"{NAME}.inter")) == 100_001
