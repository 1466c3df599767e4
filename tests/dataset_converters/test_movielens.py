import pytest

from dataset_converters import ConversionError, convert
from tests.dataset_converters.test_amazon_beauty import recbole_read
from tests.dataset_converters.conftest import read_rows

RATINGS = "userId,movieId,rating,timestamp\n1,10,4.0,100\n1,2,3.5,100\n2,10,5.0,50\n1,30,1.0,90\n"
MOVIES = (
    "movieId,title,genres\n"
    "2,Jumanji (1995),Adventure|Children|Fantasy\n"
    '10,"Great Movie, The (2001)",Sci-Fi|Film-Noir\n'
    "30,Babylon 5,(no genres listed)\n"
    "40,Unrated (1999),Drama\n"
)
TAGS = "userId,movieId,tag,timestamp\n1,10,Dark,1\n2,10,dark,2\n3,10,twist ending,3\n1,10,Atmospheric,4\n1,2,Board  Game,5\n"


@pytest.fixture
def raw(tmp_path, write):
    write(tmp_path / "raw" / "ratings.csv", RATINGS)
    write(tmp_path / "raw" / "movies.csv", MOVIES)
    return tmp_path / "raw"


def test_ratings_movies_and_tags(raw, tmp_path, write):
    write(raw / "tags.csv", TAGS)
    _, summary = convert("movielens", raw, tmp_path / "out", max_tags=2)
    header, rows = read_rows(tmp_path / "out" / "ml-20m" / "ml-20m.inter")
    assert header == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    # user 1: movie 30 at 90, then movies 2 and 10 both at 100: ties by movie id
    assert rows == [["1", "30", "1", "90"], ["1", "2", "3.5", "100"], ["1", "10", "4", "100"], ["2", "10", "5", "50"]]
    item = recbole_read(tmp_path / "out" / "ml-20m" / "ml-20m.item")
    assert list(item.columns) == ["item_id:token", "title:token", "year:token", "genres:token_seq", "tags:token"]
    assert item.values.tolist() == [
        ["2", "Jumanji", "1995", "Adventure Children Fantasy", "board game"],
        ["10", "Great Movie, The", "2001", "Sci-Fi Film-Noir", "dark, atmospheric"],
        ["30", "Babylon 5", "", "", ""],
    ]
    assert (summary.users, summary.items, summary.interactions) == (2, 3, 4)


def test_item_filter_drops_rare_movies_and_their_rows(raw, tmp_path):
    _, summary = convert("movielens", raw, tmp_path / "out", min_item_inter=2)
    _, rows = read_rows(tmp_path / "out" / "ml-20m" / "ml-20m.inter")
    assert rows == [["1", "10", "4", "100"], ["2", "10", "5", "50"]]
    _, items = read_rows(tmp_path / "out" / "ml-20m" / "ml-20m.item")
    assert [row[0] for row in items] == ["10"]
    assert (summary.users, summary.items, summary.interactions) == (2, 1, 2)


def test_two_core_of_this_data_is_empty(raw, tmp_path):
    with pytest.raises(ConversionError, match="no interaction left after filtering"):
        convert("movielens", raw, tmp_path / "out", min_user_inter=2, min_item_inter=2, k_core=True)


@pytest.mark.parametrize("files, message", [
    ({"ratings.csv": RATINGS.replace("3.5", "x")}, r"ratings\.csv line 3: column 'rating' is 'x'"),
    ({"ratings.csv": RATINGS.replace("userId", "user")}, r"ratings\.csv: missing column\(s\) \['userId'\]"),
    ({"ratings.csv": RATINGS, "movies.csv": MOVIES.replace("30,Babylon", "3x,Babylon")},
     r"movies\.csv line 4: column 'movieId' is '3x'"),
    ({"ratings.csv": RATINGS}, r"movies\.csv not found"),
])
def test_bad_input(tmp_path, write, files, message):
    for name, text in files.items():
        write(tmp_path / "raw" / name, text)
    if "movies.csv" not in files and "not found" not in message:
        write(tmp_path / "raw" / "movies.csv", MOVIES)
    with pytest.raises(ConversionError, match=message):
        convert("movielens", tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()
