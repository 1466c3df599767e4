import pandas as pd
import pytest

from recbole_llmkd.profiles.history import build_histories, load_tables, truncate, user_sort_key


def histories(config):
    inter, item, _ = load_tables(config)
    return {h.user: h for h in build_histories(inter, item, config)}


def test_lines_are_the_training_items_in_time_order_with_ratings(toy_config):
    result = histories(toy_config())
    # u1 in time order: i1(100) i3(200) i2(300) | held out: i4(400) i5(500)
    assert result["u1"].lines == [
        "Alien | 1979 | Horror, Sci-Fi | rated 5/5",
        "Casablanca | 1942 | Drama, Romance, War | rated 3/5",
        "Heat | 1995 | Action, Crime, Thriller | rated 4/5",
    ]
    assert [len(result[u].lines) for u in ("u1", "u2", "u3")] == [3, 1, 4]
    assert all("Toy Story" not in line for line in result["u3"].lines)  # u3's test target


def test_temporal_split_reads_only_interactions_before_the_cut(toy_config):
    result = histories(toy_config(cut_quantile=0.5))  # the 14 timestamps' median (numpy, linear): 75
    assert [line.split(" |")[0] for line in result["u3"].lines] == ["Casablanca", "Brazil", "Alien", "Fargo"]
    assert [line.split(" |")[0] for line in result["u2"].lines] == ["Toy Story", "Fargo", "Heat"]
    assert "u1" not in {u for u, h in result.items() if any("Toy Story" in line for line in h.lines)}


def test_max_items_keeps_the_most_recent_and_counts_the_rest(toy_config):
    u3 = histories(toy_config(max_items=2))["u3"]
    assert [line.split(" |")[0] for line in u3.lines] == ["Alien", "Fargo"]
    assert (u3.n_train, u3.n_dropped) == (4, 2)


def test_fields_are_chosen_and_truncated_per_field(toy_config):
    config = toy_config(item_fields=["movie_title", "class"], list_fields=[],
                        field_max_chars={"default": 100, "class": 12}, rating_field="")
    assert histories(config)["u1"].lines[1] == "Casablanca | Drama Roman…"


def test_missing_item_field_is_named(toy_config):
    with pytest.raises(ValueError, match=r"has no field\(s\) \['brand'\] named in option 'item_fields'"):
        histories(toy_config(item_fields=["movie_title", "brand"]))


def test_item_without_metadata_is_shown_by_id(toy_config, toy_dataset):
    item_file = toy_dataset / "toy" / "toy.item"
    item_file.write_text("".join(line for line in item_file.read_text().splitlines(True) if not line.startswith("i1\t")))
    assert histories(toy_config())["u1"].lines[0] == "item i1 | rated 5/5"


@pytest.mark.parametrize("text,limit,expected", [
    ("short", 10, "short"),
    ("The Good, the Bad and the Ugly", 16, "The Good, the…"),
    ("Supercalifragilistic", 8, "Superca…"),
])
def test_truncate(text, limit, expected):
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


def test_users_sort_numerically_first():
    assert sorted(["10", "b", "2", "a"], key=user_sort_key) == ["2", "10", "a", "b"]


def test_missing_interaction_file_is_named(toy_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="no interaction file for dataset 'toy'"):
        load_tables(toy_config(data_path=str(tmp_path / "nowhere")))


def test_ml100k_histories_leave_out_the_last_two():
    from recbole_llmkd.profiles.config import load_config

    config = load_config(max_items=None)
    inter, item, _ = load_tables(config)
    result = build_histories(inter, item, config)
    counts = inter.groupby("user_id").size()
    assert len(result) == 943
    assert all(h.n_train == counts[h.user] - 2 for h in result)
    assert isinstance(inter, pd.DataFrame)
