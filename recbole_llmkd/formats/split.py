"""The interactions a user profile may be built from: those RecBole's split puts in training.

The evaluation code (RecBole's ``eval_args``) and the profile builders must agree, or a profile
leaks the validation/test targets into training. This module holds the rule once.

RecBole orders a user's interactions by the time field *as it stores it*: a float32 tensor, after
min-max scaling when the field is normalised (``normalize_all: True``, as in the bundled ml-100k).
float32 merges nearby timestamps (raw unix seconds: within 64 s; ml-100k scaled: about a second),
and merged timestamps keep file order (RecBole sorts with a stable argsort). On ml-100k this moves
the held-out items of 4 of 943 users compared with sorting on the raw seconds.
"""

import numpy as np


def recbole_time_key(time, normalized):
    """The values RecBole sorts a sequence by: the time field as float32, min-max scaled first
    (in float64, as ``Dataset._normalize`` does) when ``normalized``."""
    t = np.asarray(time, dtype=np.float64)
    if normalized:
        low, high = t.min(), t.max()
        t = (t - low) / (high - low) if high != low else np.ones_like(t)
    return t.astype(np.float32)


def time_is_normalized(config):
    """Whether RecBole's ``config`` min-max scales the time field."""
    fields = config["normalize_field"] or []
    return bool(config["normalize_all"]) or config["TIME_FIELD"] in fields


def training_interactions(inter, user_field="user_id", time_field="timestamp", holdout=2,
                          normalized_time=True, cut_time=None):
    """The rows of ``inter`` (the ``.inter`` file in file order) that RecBole trains on, in each
    user's time order (users in sorted order).

    Leave-one-out (the default, ``cut_time=None``): RecBole's sequential split
    (``split: {'LS': 'valid_and_test'}``, ``order: TO``) orders each user's interactions by
    :func:`recbole_time_key` and holds out the last ``holdout`` = 2 (one validation, one test
    target). Interaction filters (``val_interval``, ``user_inter_num_interval``, ...) are assumed
    off, as in the bundled ml-100k's defaults.

    Global temporal split (``cut_time`` given, in the raw units of ``time_field``): only the
    interactions strictly before the cut are training data; ``holdout`` is then not used.
    """
    if cut_time is not None:
        inter = inter[inter[time_field].astype(np.float64).to_numpy() < float(cut_time)]
        holdout = 0
    ordered, rank_from_end = _in_recbole_order(inter, user_field, time_field, normalized_time)
    return ordered[rank_from_end >= holdout]


def heldout_interactions(inter, position, user_field="user_id", time_field="timestamp", normalized_time=True):
    """The held-out interaction at ``position`` from the end of each user's sequence, in RecBole's
    leave-one-out order: ``position`` 1 is the validation target, 0 the test target (users with
    fewer interactions have none)."""
    ordered, rank_from_end = _in_recbole_order(inter, user_field, time_field, normalized_time)
    return ordered[rank_from_end == position]


def leave_one_out_roles(inter, user_field="user_id", time_field="timestamp", normalized_time=True):
    """Per row of ``inter`` (its index): "train", "valid" or "test" under RecBole's leave-one-out
    split, the same order :func:`training_interactions` uses."""
    ordered, rank_from_end = _in_recbole_order(inter, user_field, time_field, normalized_time)
    roles = np.where(rank_from_end == 0, "test", np.where(rank_from_end == 1, "valid", "train"))
    return dict(zip(ordered.index, roles))


def _in_recbole_order(inter, user_field, time_field, normalized_time):
    """``inter`` sorted as RecBole sorts it (users in sorted order), and each row's rank counted
    from the end of its user's sequence (0 = last)."""
    for field in (user_field, time_field):
        if field not in inter.columns:
            raise ValueError(f"interaction table has no column {field!r}; columns: {list(inter.columns)}")
    key = recbole_time_key(inter[time_field].to_numpy(), normalized_time)
    order = np.lexsort((key, inter[user_field].to_numpy()))  # stable: ties keep file order
    ordered = inter.iloc[order]
    return ordered, ordered.groupby(user_field, sort=False).cumcount(ascending=False).to_numpy()


def temporal_cut(inter, quantile, time_field="timestamp"):
    """The timestamp at ``quantile`` (0 < q < 1) of all interactions: the global temporal split's cut."""
    if not 0 < quantile < 1:
        raise ValueError(f"cut quantile must be strictly between 0 and 1, got {quantile}")
    return float(np.quantile(inter[time_field].astype(np.float64).to_numpy(), quantile))
