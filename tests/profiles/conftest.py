"""Fixtures of the profile pipeline: a hand-made atomic dataset and a local OpenAI-format server."""

import pytest

from recbole_llmkd.profiles.config import load_config
from tests.profiles.openai_server import OpenAIServer

TOY_ITEMS = [
    ("i1", "Alien", "1979", "Horror Sci-Fi"),
    ("i2", "Heat", "1995", "Action Crime Thriller"),
    ("i3", "Casablanca", "1942", "Drama Romance War"),
    ("i4", "Toy Story", "1995", "Animation Children's Comedy"),
    ("i5", "Brazil", "1985", "Sci-Fi"),
    ("i6", "Fargo", "1996", "Crime Drama Thriller"),
]
# (user, item, rating, timestamp); file order is not time order
TOY_INTERACTIONS = [
    ("u1", "i1", 5, 100), ("u1", "i2", 4, 300), ("u1", "i3", 3, 200), ("u1", "i4", 2, 400),
    ("u1", "i5", 1, 500), ("u2", "i6", 4, 50), ("u2", "i4", 5, 10), ("u2", "i2", 3, 70),
    ("u3", "i3", 2, 20), ("u3", "i5", 5, 30), ("u3", "i1", 4, 40), ("u3", "i6", 3, 60),
    ("u3", "i2", 5, 80), ("u3", "i4", 1, 90),
]


@pytest.fixture
def toy_dataset(tmp_path):
    """``data_path`` holding ``toy/toy.inter`` and ``toy/toy.item``."""
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True)
    (folder / "toy.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        + "".join("\t".join(row) + "\n" for row in TOY_ITEMS))
    (folder / "toy.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in TOY_INTERACTIONS))
    return tmp_path / "data"


@pytest.fixture
def toy_config(toy_dataset, tmp_path):
    def make(**overrides):
        # the toy dataset has ml-100k's fields (movie_title is token_seq there too): its prompt settings
        values = {"dataset": "toy", "data_path": str(toy_dataset), "output_dir": str(tmp_path / "out"),
                  "normalized_time": False, "item_fields": ["movie_title", "release_year", "class"],
                  "list_fields": ["class"]}
        values.update(overrides)
        return load_config(**values)
    return make


@pytest.fixture
def openai_server():
    with OpenAIServer() as server:
        yield server
