"""A user profile without an LLM: the user's shares of item categories (e.g. ml-100k's genres).

Built only from the interactions RecBole trains on (:func:`training_interactions`). It is the
"item metadata, no LLM" control of the benchmark and a quick profile for smoke runs::

    python -m recbole_llmkd.profiles.metadata --dataset ml-100k --output out/ml-100k-genres.user

Each training interaction adds one count to each category of its item; a user's vector is the
counts divided by their sum, over the categories sorted by name. Users whose training items have no
category get no row (the KD models treat them as users without a profile).
"""

import argparse
import json
import os

import pandas as pd

from recbole_llmkd.formats.files import dataset_files, read_atomic, write_profile_file
from recbole_llmkd.formats.split import training_interactions


def category_shares(inter, item, category_field, user_field="user_id", item_field="item_id",
                    time_field="timestamp", holdout=2, normalized_time=True, cut_time=None):
    """DataFrame users × categories (sorted), each row summing to 1; ``holdout``,
    ``normalized_time`` and ``cut_time`` as in :func:`training_interactions`. A category that every item carries
    (Amazon's root category "Beauty") says nothing about a user and is left out."""
    if category_field not in item.columns:
        raise ValueError(f"item table has no column {category_field!r}; columns: {list(item.columns)}")
    train = training_interactions(inter, user_field, time_field, holdout, normalized_time, cut_time)
    categories = item.set_index(item_field)[category_field].fillna("").str.split().explode().dropna()
    carried_by = categories.reset_index().drop_duplicates().groupby(category_field)[item_field].size()
    universal = carried_by.index[carried_by == item[item_field].nunique()]
    categories = categories[~categories.isin(universal)]
    pairs = train[[user_field, item_field]].merge(
        categories.rename("category").reset_index(), on=item_field, how="inner"
    )
    counts = pd.crosstab(pairs[user_field], pairs["category"]).sort_index(axis=1)
    return counts.div(counts.sum(axis=1), axis=0)


def category_texts(shares, noun="genres", top=5):
    """``{user: text}``: the user's ``top`` categories by share, as a sentence the sentence encoder
    embeds like an LLM profile, e.g. ``"Favourite genres: Drama 41%, Comedy 26%, Action 12%."``
    (the benchmark's "item metadata, no LLM" control). Underscores, which the converters put
    inside a token (``Hair_Care``), are shown as spaces."""
    texts = {}
    for user, row in shares.iterrows():
        best = row[row > 0].sort_values(ascending=False, kind="stable").head(top)
        texts[str(user)] = f"Favourite {noun}: " + ", ".join(
            f"{str(name).replace('_', ' ')} {share:.0%}" for name, share in best.items()) + "."
    return texts


def metadata_settings(config):
    """``(category_field, noun)`` of the metadata source for ``config``: its ``category_field``, or
    the first of its ``list_fields``; "genres" for movies, "categories" for products (the grid's
    settings for ml-100k and Beauty)."""
    field = config.category_field or (config.list_fields or [None])[0]
    if field is None:
        raise ValueError(f"{config.dataset}: the metadata source needs category_field (a token_seq field of "
                         f"the .item file, e.g. class for ml-100k) or list_fields")
    return field, "genres" if config.domain == "movies" else "categories"


def write_metadata_texts(config, category_field="class", noun="genres"):
    """The metadata control's texts, one per user, written where the ``embed`` step reads profiles
    (``profiles.jsonl`` in ``config.out``), from the training interactions of ``config``'s split
    (leave-one-out, or its temporal cut). Returns the number of users."""
    from recbole_llmkd.formats.files import atomic_open
    from recbole_llmkd.profiles.generate import selection_path
    from recbole_llmkd.profiles.history import load_tables, training_cut

    inter, item, _ = load_tables(config)
    shares = category_shares(inter, item, category_field, config.user_field, config.item_field, config.time_field,
                             config.holdout, config.normalized_time, cut_time=training_cut(inter, config))
    texts = category_texts(shares, noun)
    os.makedirs(config.out, exist_ok=True)
    with atomic_open(selection_path(config)) as f:
        for user, text in texts.items():
            f.write(json.dumps({"user": user, "prompt_hash": "metadata", "model": "none", "profile": text}) + "\n")
    return len(texts)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write category-share user profiles as a .user file.")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (folder <data-path>/<dataset>/)")
    parser.add_argument("--data-path", default=None, help="folder holding <dataset>/ (RecBole's data_path)")
    parser.add_argument("--category-field", default="class", help="token_seq field of the .item file")
    parser.add_argument("--field", default="profile_emb", help="name of the profile field to write")
    parser.add_argument("--output", "-o", required=True, help="the .user file to write")
    args = parser.parse_args(argv)
    inter_path, item_path = dataset_files(args.dataset, args.data_path)
    inter, _ = read_atomic(inter_path)
    item, _ = read_atomic(item_path)
    shares = category_shares(inter, item, args.category_field)
    write_profile_file(args.output, shares.index.tolist(), shares.to_numpy(), field=args.field)
    users = inter["user_id"].nunique()
    print(f"{args.output}: {len(shares)} of {users} users profiled, {shares.shape[1]} dims "
          f"({', '.join(shares.columns[:5])}, ...)")
    return args.output


if __name__ == "__main__":
    from recbole_llmkd.user_errors import run_cli

    raise SystemExit(run_cli(main, "python -m recbole_llmkd.profiles.metadata"))
