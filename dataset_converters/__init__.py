"""Raw Amazon Beauty, MovieLens, MTS Kion and Amazon-M2 files -> RecBole atomic files.

    python -m dataset_converters beauty --input raw/beauty --output dataset
    from dataset_converters import convert; convert("movielens", "raw/ml-20m", "dataset")

Each dataset has a reader module; :mod:`dataset_converters.base` filters, writes and summarises.
"""

from dataset_converters import amazon_beauty, amazon_m2, kion, movielens
from dataset_converters.base import ConversionError, Summary, finish, output_folder

CONVERTERS = {
    "beauty": amazon_beauty,
    "movielens": movielens,
    "kion": kion,
    "amazon-m2": amazon_m2,
}


def dataset_yaml(name, inter_types):
    """The RecBole dataset properties of a converted dataset (field names, columns to load)."""
    columns = [c for c in ("user_id", "item_id", "rating", "timestamp") if c in inter_types]
    return (
        f"# {name}: RecBole atomic files written by dataset_converters.\n"
        "USER_ID_FIELD: user_id\n"
        "ITEM_ID_FIELD: item_id\n"
        f"RATING_FIELD: {'rating' if 'rating' in inter_types else '~'}\n"
        "TIME_FIELD: timestamp\n"
        "load_col:\n"
        f"    inter: [{', '.join(columns)}]\n"
    )


def convert(dataset, input_dir, output_dir, name=None, min_user_inter=0, min_item_inter=0, k_core=False,
            min_rating=None, drop_repeats=False, max_text_chars=1000, **reader_options):
    """Convert one raw dataset; returns ``(folder, Summary)``. ``reader_options`` go to the
    dataset's reader (``max_tags`` for movielens, ``min_watched_pct`` for kion, ``locales`` for
    amazon-m2)."""
    if dataset not in CONVERTERS:
        raise ConversionError(f"unknown dataset {dataset!r}; expected one of {sorted(CONVERTERS)}")
    module = CONVERTERS[dataset]
    name = name or module.NAME
    output_folder(output_dir, name)  # a file where the folder goes: refused before reading anything
    inter, item, user = module.read(input_dir, max_text_chars=max_text_chars, **reader_options)
    return finish(name, output_dir, inter, item, user, dataset_yaml(name, inter.types),
                  min_user_inter=min_user_inter, min_item_inter=min_item_inter, k_core=k_core,
                  min_rating=min_rating, drop_repeats=drop_repeats)


__all__ = ["convert", "CONVERTERS", "ConversionError", "Summary", "dataset_yaml"]
