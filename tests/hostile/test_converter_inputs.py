"""Raw files a converter must refuse with file and line (or keep and count), an output path that is
a file, and a folder that already holds another conversion."""

import os
import signal
import subprocess
import sys

import pytest

from dataset_converters import ConversionError, convert
from tests.dataset_converters.test_amazon_m2 import PRODUCTS, SESSIONS
from tests.dataset_converters.test_movielens import MOVIES, RATINGS


@pytest.fixture
def movielens(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()

    def make(ratings=RATINGS, movies=MOVIES):
        (raw / "ratings.csv").write_bytes(ratings if isinstance(ratings, bytes) else ratings.encode())
        (raw / "movies.csv").write_text(movies)
        return raw

    return make


@pytest.mark.parametrize("ratings, movies, message", [
    (RATINGS.replace("3.5", ""), MOVIES, r"ratings\.csv line 3: column 'rating' is empty, expected a finite number "
                                         r"in \[0, 5\] \(MovieLens stars\)"),
    (RATINGS.replace("3.5", "nan"), MOVIES, r"ratings\.csv line 3: column 'rating' is empty"),
    (RATINGS.replace("3.5", "inf"), MOVIES, r"ratings\.csv line 3: column 'rating' is 'inf'"),
    (RATINGS.replace("3.5", "-1"), MOVIES, r"ratings\.csv line 3: column 'rating' is '-1.0'"),
    (RATINGS.replace("3.5,100", "3.5,-5"), MOVIES, r"ratings\.csv line 3: column 'timestamp' is '-5', expected a "
                                                   r"finite number in \[0, 4102444800\] \(unix seconds"),
    (RATINGS.replace("3.5,100", "3.5,1500000000000"), MOVIES, r"line 3: column 'timestamp' is '1500000000000'.*"
                                                              r"milliseconds must be converted"),
    (RATINGS.replace("3.5,100", "3.5,99999999999999999999"), MOVIES,
     r"ratings\.csv line 3: column 'timestamp' is '99999999999999999999', expected a whole number"),
    (RATINGS.replace("3.5,100", "3.5,100,7"), MOVIES, r"ratings\.csv line 3: 5 fields, expected 4"),
    (RATINGS.encode().replace(b"3.5", b"3\xe95"), MOVIES, r"ratings\.csv line 3: not UTF-8 text \(byte 0xe9 at column 6\)"),
    ("userId,movieId,rating,timestamp\n", MOVIES, r"ratings\.csv: the file has no ratings"),
    (RATINGS, "movieId,title,genres\n", r"movies\.csv: the file has no movies"),
    (RATINGS, MOVIES + "10,Again (2002),Drama\n", r"movies\.csv line 6: movieId '10' already had a row on line 3"),
], ids=["empty-rating", "nan-rating", "inf-rating", "negative-rating", "negative-time", "milliseconds",
        "int64-overflow", "extra-field", "not-utf8", "no-ratings", "header-only-movies", "duplicate-movie"])
def test_bad_movielens_values_name_the_line_and_write_nothing(movielens, tmp_path, ratings, movies, message):
    with pytest.raises(ConversionError, match=message):
        convert("movielens", movielens(ratings, movies), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# A download or copy that stopped inside the last line's final field: no newline at the end, and a value
# that still parses (timestamps 50-100 in the sample: two or three digits).
@pytest.mark.parametrize("ratings, message", [
    (RATINGS.rstrip("\n")[:-1], r"ratings\.csv line 5: the file ends without a newline inside column 'timestamp' "
                                r"\('9', shorter than on every other line, which have 2 characters or more\): the "
                                r"file looks cut off; copy it again, or end the last line with a newline"),
    (RATINGS + "2,30,4.5,1", r"ratings\.csv line 6: the file ends without a newline inside column 'timestamp' "
                             r"\('1', shorter"),
], ids=["cut-timestamp", "cut-appended-row"])
def test_a_last_line_cut_inside_its_final_field_is_refused(movielens, tmp_path, ratings, message):
    with pytest.raises(ConversionError, match=message):
        convert("movielens", movielens(ratings), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("ending", ["", "\r\n"], ids=["no-newline", "crlf"])
def test_a_complete_last_line_is_kept_with_or_without_its_newline(movielens, tmp_path, ending):
    _, summary = convert("movielens", movielens(RATINGS.rstrip("\n") + ending), tmp_path / "out")
    assert summary.interactions == 4
    last = (tmp_path / "out" / "ml-20m" / "ml-20m.inter").read_text().splitlines()[-1]
    assert last == "2\t10\t5\t50"  # sorted by user: user 1's rows come first
    assert "1\t30\t1\t90" in (tmp_path / "out" / "ml-20m" / "ml-20m.inter").read_text()


def test_ratings_of_unlisted_movies_are_kept_and_counted(movielens, tmp_path):
    raw = movielens(movies=MOVIES.replace("30,Babylon 5,(no genres listed)\n", ""))
    folder, summary = convert("movielens", raw, tmp_path / "out")
    assert summary.notes == ["1 of 3 rated movies have no row in movies.csv (empty title, year and genres)"]
    assert "note: 1 of 3 rated movies have no row in movies.csv" in summary.table()
    assert "30\t\t\t\t\n" in (tmp_path / "out" / "ml-20m" / "ml-20m.item").read_text()


@pytest.mark.parametrize("old, new, message", [
    (",B03,DE", ",,DE", r"sessions_train\.csv session 1: an empty item id in prev_items or next_item"),
    ("['B09']", "['B09' '']", r"sessions_train\.csv session 3: an empty item id"),
])
def test_amazon_m2_empty_item_ids_are_refused(tmp_path, old, new, message):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "sessions_train.csv").write_text(SESSIONS.replace(old, new))
    (raw / "products_train.csv").write_text(PRODUCTS)
    with pytest.raises(ConversionError, match=message):
        convert("amazon-m2", raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file_is_refused_before_reading(movielens, tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(ConversionError, match=r"--output .*out: .*out is a file; expected a folder"):
        convert("movielens", tmp_path / "missing-input", tmp_path / "out")
    assert (tmp_path / "out").read_text() == "a file"


@pytest.fixture
def earlier_output(tmp_path):
    """The output folder of an earlier conversion, holding ``files`` (name: text)."""
    def make(files):
        folder = tmp_path / "out" / "ml-20m"
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        return folder

    return make


def test_a_folder_with_another_conversions_file_is_refused_and_kept(movielens, tmp_path, earlier_output):
    folder = earlier_output({"ml-20m.user": "user_id:token\tprofile_emb:float_seq\n1\t0.5\n", "ml-20m.inter": "old"})
    with pytest.raises(ConversionError, match=r"ml-20m holds ml-20m\.user from an earlier conversion, which this "
                                              r"one does not write"):
        convert("movielens", movielens(), tmp_path / "out")
    assert sorted(os.listdir(folder)) == ["ml-20m.inter", "ml-20m.user"]
    assert (folder / "ml-20m.inter").read_text() == "old"


def test_temporary_files_of_a_killed_conversion_are_removed_and_reported(movielens, tmp_path, earlier_output):
    folder = earlier_output({".tmp-ml-20m.inter.abc123": "half", ".tmp-other.inter.abc123": "someone else's"})
    _, summary = convert("movielens", movielens(), tmp_path / "out")
    assert sorted(os.listdir(folder)) == [".tmp-other.inter.abc123", "ml-20m.inter", "ml-20m.item", "ml-20m.yaml"]
    assert summary.notes == ["removed .tmp-ml-20m.inter.abc123: temporary files of a conversion that was killed"]


def test_sigterm_during_writing_leaves_no_temporary_file(movielens, tmp_path):
    """The CLI turns SIGTERM into an exit that unwinds through the writer's cleanup."""
    raw = movielens()
    script = (
        "import os, signal, sys, dataset_converters.base as base\n"
        "from dataset_converters.__main__ import main\n"
        "def killed(table, path):\n"
        "    open(path, 'w').write('partial')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "base._write_table = killed\n"
        f"sys.exit(main(['movielens', '--input', {str(raw)!r}, '--output', {str(tmp_path / 'out')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=os.getcwd())
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert os.listdir(tmp_path / "out" / "ml-20m") == []


@pytest.mark.parametrize("module", ["temporal_split", "cold_start"])
def test_derived_protocols_refuse_an_output_that_is_a_file(module, tmp_path):
    import importlib

    (tmp_path / "afile").write_text("x")
    main = importlib.import_module(f"dataset_converters.{module}").main
    with pytest.raises(ConversionError, match=r"--output .*afile: .*afile is a file; expected a folder"):
        main(["-d", "ml-100k", "--output", str(tmp_path / "afile")])
