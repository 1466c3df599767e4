import os

import pandas as pd
import pytest

from dataset_converters.base import (
    AtomicTable, ConversionError, Summary, clean_text, filter_interactions, finish, token_list, write_dataset,
)


def test_clean_text_decodes_collapses_and_truncates():
    values = pd.Series(["Caf&eacute; &amp; <b>Bar</b>\tnew\nline", None, "x" * 30])
    assert clean_text(values, max_chars=20).tolist() == ["Café & Bar new line", "", "x" * 14 + " [...]"]


def test_token_list_joins_with_spaces_and_underscores_inside_elements():
    values = pd.Series([["Hair Care", "Beauty"], [], None, ["Women&#39;s  Wear"]])
    assert token_list(values).tolist() == ["Hair_Care Beauty", "", "", "Women's_Wear"]


def test_filters_and_k_core():
    inter = pd.DataFrame({"user_id": list("aaabbc"), "item_id": list("xyzxyx")})
    once = filter_interactions(inter, min_user_inter=2, min_item_inter=2)
    assert once[["user_id", "item_id"]].values.tolist() == [["a", "x"], ["a", "y"], ["b", "x"], ["b", "y"]]
    # dropping item z (1 interaction) leaves nothing else to drop: a k-core gives the same here
    core = filter_interactions(inter, min_user_inter=3, min_item_inter=1, k_core=True)
    assert core["user_id"].unique().tolist() == ["a"]
    chain = pd.DataFrame({"user_id": list("aabbc"), "item_id": list("xyyzz")})
    assert len(filter_interactions(chain, 2, 2, k_core=False)) == 3  # one pass keeps a-y, b-y, b-z ...
    assert filter_interactions(chain, 2, 2, k_core=True).empty  # ... repeated passes empty it


def test_quotes_tabs_and_newlines_survive_recboles_reader(tmp_path):
    item = pd.DataFrame({"item_id": ["1", "2"], "title": clean_text(pd.Series(['"Weird" Al\tSongs', 'The "Best", ok']))})
    write_dataset(tmp_path, "d", {"item": AtomicTable(item, {"item_id": "token", "title": "token"})})
    # RecBole's Dataset._load_feat reads atomic files like this
    back = pd.read_csv(tmp_path / "d" / "d.item", delimiter="\t", dtype=str, engine="python")
    assert back["title:token"].tolist() == ['"Weird" Al Songs', 'The "Best", ok']


def test_write_dataset_is_all_or_nothing(tmp_path, monkeypatch):
    import dataset_converters.base as base

    good = AtomicTable(pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}), {"user_id": "token", "item_id": "token"})
    write_dataset(tmp_path, "d", {"inter": good})
    before = (tmp_path / "d" / "d.inter").read_text()
    calls = []

    def failing(table, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        table.frame.to_csv(path)

    monkeypatch.setattr(base, "_write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path, "d", {"inter": good, "item": good})
    assert (tmp_path / "d" / "d.inter").read_text() == before
    assert sorted(os.listdir(tmp_path / "d")) == ["d.inter"]


def test_empty_after_filtering_is_an_error_and_writes_nothing(tmp_path):
    inter = AtomicTable(pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": [1.0]}),
                        {"user_id": "token", "item_id": "token", "timestamp": "float"})
    with pytest.raises(ConversionError, match="no interaction left after filtering"):
        finish("d", tmp_path, inter, min_user_inter=2)
    assert not (tmp_path / "d").exists()


def test_summary_table():
    summary = Summary("toy", users=2, items=4, interactions=6, fields={"inter": ["user_id", "item_id"]})
    assert summary.density == 0.75 and summary.mean_length == 3.0
    assert summary.table().splitlines()[1].split() == ["toy", "2", "4", "6", "0.75000", "3.00"]


def test_shipped_dataset_properties_match_the_converters():
    from dataset_converters import CONVERTERS, dataset_yaml
    from recbole_llmkd.integration.config_files import properties_dir

    for module in CONVERTERS.values():
        with open(os.path.join(properties_dir(), "dataset", f"{module.NAME}.yaml"), encoding="utf-8") as f:
            assert f.read() == dataset_yaml(module.NAME, module.INTER_TYPES), module.NAME
