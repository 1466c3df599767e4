"""Amazon Beauty (McAuley et al., 2014 release) -> RecBole atomic files.

Interactions, the first of these found in ``--input``:

* ``reviews_Beauty_5.json`` / ``.json.gz``: JSON lines with ``reviewerID``, ``asin``, ``overall``,
  ``unixReviewTime`` (the 5-core review file);
* ``ratings_Beauty.csv``: ``user,item,rating,timestamp``, no header;
* ``user_sequence.txt``: P5-style, ``user item item ...`` in time order, no timestamps: the output
  ``timestamp`` is the item's position in the user's sequence (0, 1, 2, ...).

Item text, the first found: ``meta_Beauty.json`` / ``.json.gz`` (one Python-literal dict per line,
not strict JSON: ``asin``, ``title``, ``description``, ``categories`` (list of lists), ``brand``,
``price``, ``salesRank``), or a RecBole ``.item`` file (``Amazon_Beauty.item`` or ``Beauty.item``).
Items without metadata keep their interactions and get empty text fields.

Ties (same user, same second) keep the order of the raw file.
"""

import ast
import json

import numpy as np
import pandas as pd

from dataset_converters.base import (
    AtomicTable, ConversionError, check_range, check_timestamps, clean_text, find_input, numeric_column,
    optional_input,
    order_interactions, position_in_sequence, read_csv, read_text_lines, token_list,
)

NAME = "beauty"
INTER_FILES = ("reviews_Beauty_5.json.gz", "reviews_Beauty_5.json", "ratings_Beauty.csv", "user_sequence.txt")
META_FILES = ("meta_Beauty.json.gz", "meta_Beauty.json", "Amazon_Beauty.item", "Beauty.item")
INTER_TYPES = {"user_id": "token", "item_id": "token", "rating": "float", "timestamp": "float"}
ITEM_TYPES = {"item_id": "token", "title": "token", "brand": "token", "categories": "token_seq",
              "price": "float", "sales_rank": "float", "description": "token"}


def _parse_lines(path, parse, what):
    """Parse every non-blank line; an error names the first bad line."""
    lines = read_text_lines(path)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(parse(line))
        except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
            raise ConversionError(f"{path} line {number}: not {what} ({type(err).__name__}: {err})") from None
        if not isinstance(records[-1], dict):
            raise ConversionError(f"{path} line {number}: expected {what}, got {type(records[-1]).__name__}")
    if not records:
        raise ConversionError(f"{path}: no records")
    return pd.DataFrame.from_records(records)


def read_reviews(path):
    frame = _parse_lines(path, json.loads, "a JSON object")
    for column in ("reviewerID", "asin", "overall", "unixReviewTime"):
        if column not in frame.columns:
            raise ConversionError(f"{path}: missing field {column!r} in the JSON records")
        missing = frame[column].isna()
        if missing.any():
            raise ConversionError(f"{path}: record {int(np.flatnonzero(missing)[0]) + 1} has no {column!r}")
    return pd.DataFrame({
        "user_id": frame["reviewerID"].astype(str),
        "item_id": frame["asin"].astype(str),
        "rating": check_range(numeric_column(frame, "overall", path, header_lines=0), "overall", path, 0, 5,
                              header_lines=0, what=" (review stars)"),
        "timestamp": check_timestamps(numeric_column(frame, "unixReviewTime", path, header_lines=0),
                                      "unixReviewTime", path, header_lines=0),
    })


def read_ratings_csv(path):
    frame = read_csv(path, header=None, names=["user_id", "item_id", "rating", "timestamp"],
                     dtype=str, keep_default_na=False)
    rating = check_range(numeric_column(frame, "rating", path, header_lines=0), "rating", path, 0, 5,
                         header_lines=0, what=" (review stars)")
    timestamp = check_timestamps(numeric_column(frame, "timestamp", path, header_lines=0), "timestamp", path,
                                 header_lines=0)
    return frame.assign(rating=rating, timestamp=timestamp)


def read_user_sequences(path):
    lines = pd.Series(read_text_lines(path), dtype=object)
    parts = lines.str.split()
    short = parts.str.len() < 2
    if short.any():
        raise ConversionError(
            f"{path} line {int(np.flatnonzero(short.to_numpy())[0]) + 1}: expected a user id followed by "
            "at least one item id"
        )
    users = parts.str[0]
    duplicated_users = users.duplicated()
    if duplicated_users.any():
        line = int(np.flatnonzero(duplicated_users.to_numpy())[0]) + 1
        raise ConversionError(f"{path} line {line}: user {users.iloc[line - 1]!r} already had a line")
    frame = pd.DataFrame({"user_id": users, "item_id": parts.str[1:]}).explode("item_id").reset_index(drop=True)
    frame["rating"] = np.nan
    frame["timestamp"] = position_in_sequence(frame["user_id"])
    return frame


def read_meta_json(path):
    frame = _parse_lines(path, ast.literal_eval, "a Python dict literal")
    if "asin" not in frame.columns:
        raise ConversionError(f"{path}: missing field 'asin' in the metadata records")
    empty = pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def flat_categories(value):  # [['Beauty', 'Makeup', 'Face'], ['Beauty', 'Tools']] -> unique, in order
        if not isinstance(value, list):
            return []
        flat = [c for group in value for c in (group if isinstance(group, list) else [group])]
        return list(dict.fromkeys(flat))

    def first_rank(value):
        return next(iter(value.values()), np.nan) if isinstance(value, dict) and value else np.nan

    return pd.DataFrame({
        "item_id": frame["asin"].astype(str),
        "title": frame.get("title", empty),
        "brand": frame.get("brand", empty),
        "categories": frame.get("categories", empty).map(flat_categories),
        "price": pd.to_numeric(frame.get("price", empty), errors="coerce"),
        "sales_rank": frame.get("salesRank", empty).map(first_rank).astype(float),
        "description": frame.get("description", empty),
    })


def read_recbole_item(path):
    from recbole_llmkd.formats.files import read_atomic

    frame, _ = read_atomic(path)
    if "item_id" not in frame.columns:
        raise ConversionError(f"{path}: no item_id field in the header")
    # categories like 'Beauty', 'Makeup', "Women's" (a quoted, comma-separated list)
    quoted = frame.get("categories", pd.Series("", index=frame.index)).fillna("")
    pieces = quoted.str.findall(r"'([^']*)'|\"([^\"]*)\"")
    categories = pieces.map(lambda found: [a or b for a, b in found])
    return pd.DataFrame({
        "item_id": frame["item_id"],
        "title": frame.get("title"),
        "brand": frame.get("brand"),
        "categories": categories,
        "price": frame.get("price"),
        "sales_rank": frame.get("sales_rank"),
        "description": None,
    })


def read(input_dir, max_text_chars=1000):
    inter_path = find_input(input_dir, *INTER_FILES)
    if inter_path.endswith("user_sequence.txt"):
        inter = read_user_sequences(inter_path)
    elif inter_path.endswith(".csv"):
        inter = read_ratings_csv(inter_path)
    else:
        inter = read_reviews(inter_path)
    inter = order_interactions(inter)

    meta_path = optional_input(input_dir, *META_FILES)
    items = pd.DataFrame({"item_id": inter["item_id"].drop_duplicates()})
    if meta_path is not None:
        meta = read_recbole_item(meta_path) if meta_path.endswith(".item") else read_meta_json(meta_path)
        meta = meta.drop_duplicates("item_id", keep="first")
        items = items.merge(meta, on="item_id", how="left")
    for column in ("title", "brand", "description"):
        items[column] = clean_text(items.get(column, pd.Series(index=items.index, dtype=object)),
                                   max_text_chars)
    items["categories"] = token_list(items.get("categories", pd.Series([[]] * len(items), index=items.index)))
    for column in ("price", "sales_rank"):
        items[column] = pd.to_numeric(items.get(column), errors="coerce")
    inter_types = dict(INTER_TYPES)
    if inter["rating"].isna().all():
        del inter_types["rating"]
    return AtomicTable(inter, inter_types), AtomicTable(items, ITEM_TYPES), None
