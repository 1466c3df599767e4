"""Amazon-M2 (KDD Cup 2023) -> RecBole atomic files.

* ``sessions_train.csv``: ``prev_items,next_item,locale``; ``prev_items`` is a numpy-style list
  string, ``['B09W9FND7K' 'B09JSPLN1M']`` (it may span lines inside its quotes);
* ``products_train.csv``: ``id,locale,title,price,brand,color,size,model,material,author,desc``.

Each session is a sequence (``prev_items`` then ``next_item``) and its user is the session:
``user_id`` = ``<locale>_<row number>``. The same product id can describe different products in
different locales, so an item is keyed by both: ``item_id`` = ``<locale>_<id>``; nothing is merged
across locales. ``--locales DE,UK`` keeps only those locales. There are no timestamps: ``timestamp``
is the position in the session.
"""

import numpy as np
import pandas as pd

from dataset_converters.base import (
    AtomicTable, ConversionError, find_input, position_in_sequence, read_csv, require_columns, text_columns,
)

NAME = "amazon-m2"
INTER_TYPES = {"user_id": "token", "item_id": "token", "timestamp": "float"}
TEXT_FIELDS = ("title", "brand", "color", "size", "model", "material", "author", "desc")
LIST_ITEM = r"'([^']*)'"


def read_sessions(path, locales=None):
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, ["prev_items", "next_item", "locale"], path)
    well_formed = frame["prev_items"].str.strip().str.match(r"^\[(\s*'[^']*'\s*)*\]$")
    if not well_formed.all():
        row = int(np.flatnonzero(~well_formed.to_numpy())[0])
        raise ConversionError(
            f"{path} session {row + 1}: prev_items is {frame['prev_items'].iloc[row][:80]!r}, expected a "
            "list like ['B09W9FND7K' 'B09JSPLN1M']"
        )
    empty = (frame["next_item"].str.strip() == "") | frame["prev_items"].str.contains(r"''", regex=False)
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ConversionError(f"{path} session {row + 1}: an empty item id in prev_items or next_item")
    frame["user_id"] = frame["locale"] + "_" + pd.Series(np.arange(1, len(frame) + 1), index=frame.index).astype(str)
    if locales:
        frame = frame[frame["locale"].isin(locales)]
    items = frame["prev_items"].str.findall(LIST_ITEM) + frame["next_item"].map(lambda x: [x])
    inter = pd.DataFrame({"user_id": frame["user_id"], "locale": frame["locale"], "item_id": items})
    inter = inter.explode("item_id").reset_index(drop=True)
    inter["item_id"] = inter["locale"] + "_" + inter["item_id"]
    inter["timestamp"] = position_in_sequence(inter["user_id"])
    return inter.drop(columns="locale")


def read_products(path, max_text_chars, locales=None):
    frame = read_csv(path, dtype=str, keep_default_na=False)
    require_columns(frame, ["id", "locale", "title"], path)
    if locales:
        frame = frame[frame["locale"].isin(locales)]
    products = text_columns(frame, TEXT_FIELDS, max_text_chars)
    products.insert(0, "item_id", frame["locale"] + "_" + frame["id"])
    products["price"] = pd.to_numeric(frame.get("price"), errors="coerce")
    duplicated = products["item_id"].duplicated(keep=False)
    if duplicated.any():
        key = products["item_id"][duplicated].iloc[0]
        raise ConversionError(f"{path}: product {key!r} (locale_id) appears more than once")
    return products


def read(input_dir, max_text_chars=1000, locales=None):
    locales = [x.strip() for x in locales.split(",")] if isinstance(locales, str) else locales
    inter = read_sessions(find_input(input_dir, "sessions_train.csv"), locales)
    items = pd.DataFrame({"item_id": inter["item_id"].drop_duplicates()})
    items = items.merge(read_products(find_input(input_dir, "products_train.csv"), max_text_chars, locales),
                        on="item_id", how="left")
    items["locale"] = items["item_id"].str.split("_", n=1).str[0]
    items[list(TEXT_FIELDS)] = items[list(TEXT_FIELDS)].fillna("")
    item_types = {"item_id": "token", "locale": "token", **{c: "token" for c in TEXT_FIELDS}, "price": "float"}
    return AtomicTable(inter, INTER_TYPES), AtomicTable(items, item_types), None
