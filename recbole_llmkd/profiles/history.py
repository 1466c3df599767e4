"""Each user's training history as prompt lines: one line per item, oldest first.

A line joins the configured ``.item`` text fields (each truncated to its character limit) and, when
the ``.inter`` file has one, the rating: ``Toy Story | 1995 | Animation, Children's, Comedy | rated 5/5``.
Only the interactions RecBole trains on are used (:func:`~recbole_llmkd.formats.split.training_interactions`).
"""

import os
from dataclasses import dataclass

import numpy as np

from recbole_llmkd.formats.files import dataset_files, read_atomic
from recbole_llmkd.formats.split import temporal_cut, training_interactions


@dataclass
class UserHistory:
    user: str
    lines: list  # item lines, oldest first (after ``max_items``)
    n_train: int  # training interactions of the user
    n_dropped: int = 0  # oldest lines left out by ``max_items``


def truncate(text, limit):
    """``text`` cut to at most ``limit`` characters, at a word boundary when there is one, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def format_rating(value, scale):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"rated {shown}/{scale:g}" if scale else f"rating {shown}"


def item_texts(item, config):
    """``{item id: 'field | field | ...'}`` from the ``.item`` table."""
    missing = [name for name in config.item_fields if name not in item.columns]
    if missing:
        raise ValueError(f"the .item file of dataset {config.dataset!r} has no field(s) {missing} named in "
                         f"option 'item_fields'; its fields: {list(item.columns)}")
    parts = []
    for name in config.item_fields:
        values = item[name].fillna("").astype(str).str.strip()
        if name in config.list_fields:
            values = values.str.split().str.join(", ")
        limit = config.max_chars(name)
        parts.append(values.map(lambda text, n=limit: truncate(text, n)))
    joined = [" | ".join(p for p in row if p) for row in zip(*parts)]
    return dict(zip(item[config.item_field].astype(str), joined))


def training_cut(inter, config):
    """The temporal split's cut time, or None for leave-one-out."""
    if config.cut_quantile is None:
        return None
    return temporal_cut(inter, config.cut_quantile, config.time_field)


def build_histories(inter, item, config):
    """``[UserHistory]`` for every user with at least one training interaction, sorted by user id."""
    train = training_interactions(inter, config.user_field, config.time_field, config.holdout,
                                  config.normalized_time, cut_time=training_cut(inter, config))
    texts = item_texts(item, config) if item is not None else {}
    items = train[config.item_field].astype(str).to_numpy()
    lines = np.array([texts.get(i) or f"item {i}" for i in items], dtype=object)
    rating_field = config.rating_field if config.rating_field in train.columns else None
    if rating_field:
        ratings = [format_rating(float(r), config.rating_scale) for r in train[rating_field]]
        lines = np.array([f"{line} | {r}" if r else line for line, r in zip(lines, ratings)], dtype=object)
    users = train[config.user_field].astype(str).to_numpy()
    histories = []
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    bounds = np.r_[starts, len(users)]
    for start, end in zip(bounds[:-1], bounds[1:]):
        user_lines = list(lines[start:end])
        kept = user_lines[-config.max_items:] if config.max_items else user_lines
        histories.append(UserHistory(users[start], kept, len(user_lines), len(user_lines) - len(kept)))
    return sorted(histories, key=lambda h: user_sort_key(h.user))


def user_sort_key(user):
    """Numeric ids in numeric order, then the others as strings."""
    return (0, int(user), "") if str(user).isdigit() else (1, 0, str(user))


def load_tables(config):
    """``(inter, item, inter_path)``: the dataset's ``.inter`` and ``.item`` tables (``item`` None
    when the dataset has no ``.item`` file), resolved as RecBole resolves them."""
    inter_path, item_path = dataset_files(config.dataset, config.data_path)
    if not os.path.exists(inter_path):
        raise FileNotFoundError(f"{inter_path}: no interaction file for dataset {config.dataset!r} "
                                f"(data_path={config.data_path!r})")
    inter, _ = read_atomic(inter_path)
    item = read_atomic(item_path)[0] if os.path.exists(item_path) else None
    return inter, item, inter_path
