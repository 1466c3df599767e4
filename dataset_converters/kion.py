"""MTS Kion -> RecBole atomic files.

* ``interactions.csv``: ``user_id,item_id,last_watch_dt,total_dur,watched_pct``;
* ``items.csv`` (Russian) or ``items_en.csv`` (English): ``item_id,content_type,title,title_orig,
  release_year,genres,countries,for_kids,age_rating,studios,directors,actors,description,keywords``;
* ``users.csv`` (optional): ``user_id,age,income,sex,kids_flg`` -> ``kion.user``.

``last_watch_dt`` is a date (day resolution). The output ``timestamp`` is its unix time, and
interactions of one user on one day are ordered by ``total_dur`` ascending (the shorter watch is
taken to come first), then by item id: a deterministic order, written into the file's row order,
which RecBole keeps for equal timestamps. ``--min-watched-pct`` drops interactions watched less.
``watched_pct`` is kept as a float field (the "watch share" the profile prompts show).
"""

import numpy as np
import pandas as pd

from dataset_converters.base import (
    AtomicTable, ConversionError, find_input, numeric_column, optional_input, order_interactions, read_csv,
    read_typed_csv, require_columns, text_columns,
)

NAME = "kion"
INTER_TYPES = {"user_id": "token", "item_id": "token", "timestamp": "float", "total_dur": "float",
               "watched_pct": "float"}
TEXT_FIELDS = ("content_type", "title", "title_orig", "release_year", "genres", "countries", "for_kids",
               "age_rating", "studios", "directors", "actors", "description", "keywords")
USER_FIELDS = ("age", "income", "sex", "kids_flg")


def read_interactions(path, min_watched_pct=None):
    dtypes = {"user_id": "int64", "item_id": "int64", "last_watch_dt": str, "total_dur": "float64",
              "watched_pct": "float64"}
    frame = read_typed_csv(path, dtypes, list(dtypes))
    dates = pd.to_datetime(frame["last_watch_dt"], format="%Y-%m-%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConversionError(
            f"{path} line {row + 2}: last_watch_dt is {frame['last_watch_dt'].iloc[row]!r}, expected YYYY-MM-DD"
        )
    inter = pd.DataFrame({
        "user_id": frame["user_id"], "item_id": frame["item_id"],
        "timestamp": (dates - pd.Timestamp("1970-01-01")).dt.total_seconds(),
        "total_dur": frame["total_dur"], "watched_pct": frame["watched_pct"],
    })
    if min_watched_pct is not None:
        inter = inter[inter["watched_pct"].fillna(0) >= min_watched_pct]
    return order_interactions(inter, tie_break=("total_dur", "item_id"))


def read_items(path, max_text_chars):
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, ["item_id", "title"], path)
    items = text_columns(frame, TEXT_FIELDS, max_text_chars)
    items.insert(0, "item_id", numeric_column(frame, "item_id", path).astype("int64"))
    return items.drop_duplicates("item_id", keep="first")


def read_users(path):
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, ["user_id", *USER_FIELDS], path)
    users = text_columns(frame, USER_FIELDS, 100).apply(lambda col: col.str.replace(" ", "_"))
    users.insert(0, "user_id", numeric_column(frame, "user_id", path).astype("int64"))
    return users.drop_duplicates("user_id", keep="first")


def read(input_dir, max_text_chars=1000, min_watched_pct=None):
    inter = read_interactions(find_input(input_dir, "interactions.csv"), min_watched_pct)
    items = pd.DataFrame({"item_id": np.unique(inter["item_id"].to_numpy())})
    items_path = find_input(input_dir, "items.csv", "items_en.csv")
    items = items.merge(read_items(items_path, max_text_chars), on="item_id", how="left")
    items[list(TEXT_FIELDS)] = items[list(TEXT_FIELDS)].fillna("")
    item_types = {"item_id": "token", **{c: "token" for c in TEXT_FIELDS}}
    users_path = optional_input(input_dir, "users.csv")
    user = None
    if users_path is not None:
        user = AtomicTable(read_users(users_path), {"user_id": "token", **{c: "token" for c in USER_FIELDS}})
    return AtomicTable(inter, INTER_TYPES), AtomicTable(items, item_types), user
