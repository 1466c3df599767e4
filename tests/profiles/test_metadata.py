import pandas as pd
import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.profiles.metadata import category_shares, category_texts, main

INTER = pd.DataFrame({
    "user_id": ["u"] * 5 + ["v"] * 3,
    "item_id": ["1", "2", "3", "1", "2", "3", "1", "2"],
    "timestamp": [1, 2, 3, 4, 5, 1, 2, 3],
})
ITEM = pd.DataFrame({"item_id": ["1", "2", "3"], "class": ["Drama Comedy", "Drama", ""]})


def test_category_shares_from_training_interactions_only():
    shares = category_shares(INTER, ITEM, "class")
    # u trains on items 1, 2, 3 (4 and 5 are held out): Comedy 1, Drama 2; v trains on item 3 only: no genre
    assert shares.columns.tolist() == ["Comedy", "Drama"]
    assert shares.index.tolist() == ["u"]
    assert shares.loc["u"].tolist() == pytest.approx([1 / 3, 2 / 3])


def test_category_texts_name_the_top_shares_in_order():
    shares = pd.DataFrame({"Action": [0.1, 0.0], "Comedy": [0.3, 0.5], "Drama": [0.6, 0.5]}, index=["u", "w"])
    assert category_texts(shares) == {"u": "Favourite genres: Drama 60%, Comedy 30%, Action 10%.",
                                      "w": "Favourite genres: Comedy 50%, Drama 50%."}
    assert category_texts(shares, noun="categories", top=1)["u"] == "Favourite categories: Drama 60%."


def test_a_category_on_every_item_is_left_out_and_underscores_read_as_spaces():
    item = ITEM.assign(categories=["Beauty Hair_Care", "Beauty Skin_Care", "Beauty"])
    shares = category_shares(INTER, item, "categories")
    # "Beauty" is on all 3 items; u trains on items 1, 2, 3: Hair_Care 1, Skin_Care 1
    assert shares.columns.tolist() == ["Hair_Care", "Skin_Care"]
    assert shares.loc["u"].tolist() == pytest.approx([0.5, 0.5])
    assert category_texts(shares, noun="categories") == {"u": "Favourite categories: Hair Care 50%, Skin Care 50%."}


def test_unknown_category_field():
    with pytest.raises(ValueError, match="item table has no column 'genre'"):
        category_shares(INTER, ITEM, "genre")


def test_command_line_writes_ml100k_profiles(tmp_path, genre_profile_table):
    out = main(["--dataset", "ml-100k", "--output", str(tmp_path / "g.user")])
    frame, types = read_atomic(out)
    assert types == {"user_id": "token", "profile_emb": "float_seq"}
    assert len(frame) == 943
    row = frame.set_index("user_id").loc["1", "profile_emb"]
    vector = [float(v) for v in row.split()]
    assert len(vector) == 19 and sum(vector) == pytest.approx(1.0)
    assert vector == pytest.approx(genre_profile_table.loc["1"].tolist())


@pytest.mark.parametrize("overrides, expected", [
    ({}, ("class", "genres")),                                              # ml-100k: the first list field
    ({"category_field": "movie_title"}, ("movie_title", "genres")),
    ({"domain": "products", "list_fields": ["categories"]}, ("categories", "categories")),
])
def test_metadata_settings(overrides, expected):
    from recbole_llmkd.profiles.config import load_config
    from recbole_llmkd.profiles.metadata import metadata_settings

    assert metadata_settings(load_config(**overrides)) == expected


def test_metadata_settings_without_a_field_say_what_is_missing():
    import dataclasses

    from recbole_llmkd.profiles.config import load_config
    from recbole_llmkd.profiles.metadata import metadata_settings

    config = dataclasses.replace(load_config(), list_fields=None, category_field=None)
    with pytest.raises(ValueError, match=r"ml-100k: the metadata source needs category_field \(a token_seq field"):
        metadata_settings(config)
