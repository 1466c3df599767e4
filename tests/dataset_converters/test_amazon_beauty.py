import os

import pandas as pd
import pytest

from dataset_converters import ConversionError, convert
from tests.dataset_converters.conftest import read_rows

REVIEWS = "\n".join([
    '{"reviewerID": "U1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1300000000, "reviewText": "ok"}',
    '{"reviewerID": "U1", "asin": "B2", "overall": 3.0, "unixReviewTime": 1200000000}',
    '{"reviewerID": "U2", "asin": "B1", "overall": 4.0, "unixReviewTime": 1250000000}',
    '{"reviewerID": "U2", "asin": "B3", "overall": 1.0, "unixReviewTime": 1250000000}',
]) + "\n"
RATINGS = "U1,B1,5.0,1300000000\nU1,B2,3.0,1200000000\nU2,B1,4.0,1250000000\nU2,B3,1.0,1250000000\n"
META = "\n".join([
    "{'asin': 'B1', 'title': 'Cr\\xe8me &amp; Gel', 'categories': [['Beauty', 'Skin Care'], ['Beauty', 'Face']], "
    "'brand': 'Nivéa', 'price': 9.5, 'salesRank': {'Beauty': 123}, 'description': '<p>Soft\\n\"cream\"</p>'}",
    "{'asin': 'B2', 'title': \"L'Oréal Paris\", 'categories': [['Beauty']]}",
    "{'asin': 'B9', 'title': 'never bought'}",
]) + "\n"
INTER_ROWS = [
    ["U1", "B2", "3", "1200000000"],
    ["U1", "B1", "5", "1300000000"],
    ["U2", "B1", "4", "1250000000"],
    ["U2", "B3", "1", "1250000000"],  # same second as the row above: file order kept
]


def recbole_read(path):
    """As RecBole's Dataset._load_feat reads an atomic file."""
    return pd.read_csv(path, delimiter="\t", dtype=str, engine="python", keep_default_na=False)


@pytest.mark.parametrize("reviews_file, text, compress", [
    ("reviews_Beauty_5.json.gz", REVIEWS, True),
    ("reviews_Beauty_5.json", REVIEWS, False),
    ("ratings_Beauty.csv", RATINGS, False),
])
def test_reviews_or_ratings_with_python_literal_metadata(tmp_path, write, reviews_file, text, compress):
    write(tmp_path / "raw" / reviews_file, text, compress)
    write(tmp_path / "raw" / "meta_Beauty.json.gz", META, compress=True)
    folder, summary = convert("beauty", tmp_path / "raw", tmp_path / "out")
    header, rows = read_rows(tmp_path / "out" / "beauty" / "beauty.inter")
    assert header == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    assert rows == INTER_ROWS
    item = recbole_read(tmp_path / "out" / "beauty" / "beauty.item")
    assert list(item.columns) == ["item_id:token", "title:token", "brand:token", "categories:token_seq",
                                  "price:float", "sales_rank:float", "description:token"]
    assert item.values.tolist() == [
        ["B2", "L'Oréal Paris", "", "Beauty", "", "", ""],
        ["B1", "Crème & Gel", "Nivéa", "Beauty Skin_Care Face", "9.5", "123", 'Soft "cream"'],
        ["B3", "", "", "", "", "", ""],  # no metadata: kept, empty text
    ]
    assert (summary.users, summary.items, summary.interactions) == (2, 3, 4)
    assert open(os.path.join(folder, "beauty.yaml")).read().splitlines()[-1] == "    inter: [user_id, item_id, rating, timestamp]"


def test_min_rating_and_repeats(tmp_path, write):
    write(tmp_path / "ratings_Beauty.csv", RATINGS)
    _, summary = convert("beauty", tmp_path, tmp_path / "out", min_rating=4.0)
    _, rows = read_rows(tmp_path / "out" / "beauty" / "beauty.inter")
    assert rows == [INTER_ROWS[1], INTER_ROWS[2]]
    write(tmp_path / "seq" / "user_sequence.txt", "U1 B2 B1 B2\n")
    _, summary = convert("beauty", tmp_path / "seq", tmp_path / "out2", drop_repeats=True)
    _, rows = read_rows(tmp_path / "out2" / "beauty" / "beauty.inter")
    assert rows == [["U1", "B2", "0"], ["U1", "B1", "1"]]
    with pytest.raises(ConversionError, match="min_rating given, but this input has no ratings"):
        convert("beauty", tmp_path / "seq", tmp_path / "out3", min_rating=3)


def test_command_line(tmp_path, write, capsys):
    from dataset_converters.__main__ import main

    write(tmp_path / "raw" / "ratings_Beauty.csv", RATINGS)
    assert main(["beauty", "--input", str(tmp_path / "raw"), "--output", str(tmp_path / "out"), "--name", "b"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["b", "2", "3", "4", "0.66667", "2.00"]
    assert main(["beauty", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]) == 2
    assert "error: " in capsys.readouterr().err


def test_p5_sequences_with_a_recbole_item_file(tmp_path, write):
    write(tmp_path / "user_sequence.txt", "U1 B2 B1 B2\nU2 B1 B3\n")
    write(tmp_path / "Amazon_Beauty.item",
          "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token\n"
          "B1\tGel\tBeauty\t5.0\t'Beauty', 'Skin Care'\t2.5\tAcme\n"
          "B2\t\"Multi\nline\"\tBeauty\t\t\"'Beauty', \"\"Women's\"\"\"\t\tZed\n")
    convert("beauty", tmp_path, tmp_path / "out")
    header, rows = read_rows(tmp_path / "out" / "beauty" / "beauty.inter")
    assert header == ["user_id:token", "item_id:token", "timestamp:float"]
    assert rows == [["U1", "B2", "0"], ["U1", "B1", "1"], ["U1", "B2", "2"], ["U2", "B1", "0"], ["U2", "B3", "1"]]
    item = recbole_read(tmp_path / "out" / "beauty" / "beauty.item")
    assert item[["item_id:token", "title:token", "categories:token_seq", "brand:token"]].values.tolist() == [
        ["B2", "Multi line", "Beauty Women's", "Zed"],
        ["B1", "Gel", "Beauty Skin_Care", "Acme"],
        ["B3", "", "", ""],
    ]


@pytest.mark.parametrize("files, message", [
    ({"reviews_Beauty_5.json": REVIEWS.replace('"asin": "B2",', '"asin": "B2"')},
     r"reviews_Beauty_5\.json line 2: not a JSON object"),
    ({"reviews_Beauty_5.json": REVIEWS.replace('"overall": 4.0', '"overall": "four"')},
     r"line 3: column 'overall' is 'four', expected a number"),
    ({"reviews_Beauty_5.json": REVIEWS, "meta_Beauty.json": META.replace("'brand': 'Nivéa',", "'brand': ,")},
     r"meta_Beauty\.json line 1: not a Python dict literal"),
    ({"ratings_Beauty.csv": RATINGS.replace("4.0", "four")}, r"line 3: column 'rating' is 'four'"),
    ({"ratings_Beauty.csv": RATINGS + "U3,B1,5.0,1,extra\n"}, r"ratings_Beauty\.csv line 5: 5 fields, expected 4"),
    ({"user_sequence.txt": "U1 B1 B2\nU2\n"}, r"user_sequence\.txt line 2: expected a user id followed by"),
    ({"user_sequence.txt": "U1 B1 B2\nU1 B3\n"}, r"line 2: user 'U1' already had a line"),
    ({"notes.txt": "nothing here"}, r"none of \['reviews_Beauty_5\.json\.gz'"),
])
def test_bad_input_is_named_and_nothing_is_written(tmp_path, write, files, message):
    for name, text in files.items():
        write(tmp_path / "raw" / name, text)
    with pytest.raises(ConversionError, match=message):
        convert("beauty", tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_utf8_input(tmp_path):
    (tmp_path / "ratings_Beauty.csv").write_bytes("U1,B1,5.0,1\nU\xe9,B2,3.0,2\n".encode("latin-1"))
    with pytest.raises(ConversionError, match=r"ratings_Beauty\.csv line 2: not UTF-8 text \(byte 0xe9 at column 2\)"):
        convert("beauty", tmp_path, tmp_path / "out")


BEAUTY = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "amazon-beauty-5core")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(BEAUTY), reason="../shared/data/amazon-beauty-5core is not present")
def test_real_beauty_converts_and_recbole_loads_it(tmp_path, monkeypatch):
    from recbole.config import Config
    from recbole.data import create_dataset

    _, summary = convert("beauty", BEAUTY, tmp_path)
    assert (summary.users, summary.items, summary.interactions) == (22363, 12101, 198502)
    monkeypatch.chdir(tmp_path)
    config = Config(model="SASRec", dataset="beauty",
                    config_dict={"data_path": str(tmp_path), "train_neg_sample_args": None, "state": "ERROR"})
    dataset = create_dataset(config)
    assert (dataset.user_num - 1, dataset.item_num - 1, dataset.inter_num) == (22363, 12101, 198502)
