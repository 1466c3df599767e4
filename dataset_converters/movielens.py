"""MovieLens CSV releases (20M, 25M, latest, latest-small) -> RecBole atomic files.

* ``ratings.csv``: ``userId,movieId,rating,timestamp`` (header);
* ``movies.csv``: ``movieId,title,genres``; genres are ``|``-separated; the release year sits in the
  title's last parentheses, ``Heat (1995)``, and becomes its own field;
* ``tags.csv`` (optional): ``userId,movieId,tag,timestamp``; a movie's ``tags`` field lists its most
  frequent tags (up to ``--max-tags``, ties by tag text), lower-cased.

Ties (same user, same second) are ordered by movie id. Read with explicit dtypes (int32 ids,
float32 ratings) so 20M ratings fit comfortably in memory.
"""

import numpy as np
import pandas as pd

from dataset_converters.base import (
    AtomicTable, ConversionError, check_range, check_timestamps, clean_text, find_input, numeric_column,
    optional_input, order_interactions, read_csv, read_typed_csv, require_columns, require_rows, token_list,
    unique_ids,
)

NAME = "ml-20m"
INTER_TYPES = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}
ITEM_TYPES = {"item_id": "token", "title": "token", "year": "token", "genres": "token_seq", "tags": "token"}
YEAR = r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$"


def read_ratings(path):
    dtypes = {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"}
    frame = read_typed_csv(path, dtypes, list(dtypes))
    require_rows(frame, path, "ratings (a header and no rows)")
    check_range(frame["rating"], "rating", path, 0, 5, what=" (MovieLens stars)")
    check_timestamps(frame["timestamp"], "timestamp", path)
    return pd.DataFrame({
        "user_id": frame["userId"].to_numpy(),
        "item_id": frame["movieId"].to_numpy(),
        "rating": frame["rating"].to_numpy(),
        "timestamp": frame["timestamp"].to_numpy(),
    })


def read_movies(path, max_text_chars):
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, ["movieId", "title", "genres"], path)
    require_rows(frame, path, "movies (a header and no rows); titles and genres are required")
    unique_ids(frame, "movieId", path)
    title = frame["title"].str.strip()
    year = title.str.extract(YEAR, expand=False).fillna("")
    genres = frame["genres"].where(frame["genres"] != "(no genres listed)", "").str.split("|")
    return pd.DataFrame({
        "item_id": numeric_column(frame, "movieId", path).astype("int64"),
        "title": clean_text(title.str.replace(YEAR, "", regex=True), max_text_chars),
        "year": year,
        "genres": token_list(genres.map(lambda g: [x for x in g if x])),
    })


def read_tags(path, max_tags, max_text_chars):
    frame = read_typed_csv(path, {"movieId": "int64", "tag": str}, ["movieId", "tag"])
    tags = clean_text(frame["tag"], 100).str.lower()
    counts = (pd.DataFrame({"item_id": frame["movieId"], "tag": tags})[tags != ""]
              .value_counts().rename("n").reset_index()
              .sort_values(["item_id", "n", "tag"], ascending=[True, False, True], kind="stable"))
    top = counts.groupby("item_id").head(max_tags)
    joined = top.groupby("item_id")["tag"].agg(", ".join)
    return clean_text(joined, max_text_chars)


def read(input_dir, max_text_chars=1000, max_tags=10):
    ratings_path = find_input(input_dir, "ratings.csv")
    inter = order_interactions(read_ratings(ratings_path), tie_break=("item_id",))
    items = pd.DataFrame({"item_id": np.unique(inter["item_id"].to_numpy())})
    movies_path = optional_input(input_dir, "movies.csv")
    if movies_path is None:
        raise ConversionError(f"{input_dir}: movies.csv not found (titles and genres are required)")
    items = items.merge(read_movies(movies_path, max_text_chars), on="item_id", how="left")
    unlisted = int(items["title"].isna().sum())
    notes = [f"{unlisted} of {len(items)} rated movies have no row in movies.csv (empty title, year and "
             "genres)"] if unlisted else []
    tags_path = optional_input(input_dir, "tags.csv")
    tags = read_tags(tags_path, max_tags, max_text_chars) if tags_path else pd.Series(dtype=str)
    items["tags"] = items["item_id"].map(tags).fillna("")
    for column in ("title", "year", "genres"):
        items[column] = items[column].fillna("")
    return AtomicTable(inter, INTER_TYPES), AtomicTable(items, ITEM_TYPES, notes), None
