"""The item cold-start protocol: a copy of a dataset in which some test targets are (nearly) unseen.

    python -m dataset_converters.cold_start -d ml-100k --output output/data

Leave-one-out as RecBole does it (each user's interactions in RecBole's time order; the last is the
test target, the one before it the validation target, the rest training). Then:

1. ``--cold-fraction`` (0.4) of the distinct test-target items are drawn (seeded);
2. ``--removed-share`` (0.5) of those lose every training interaction;
3. the others keep ``--keep`` (3) training interactions, drawn at random, and lose the rest.

Validation and test interactions are never touched, so RecBole's own leave-one-out on the written
``.inter`` gives exactly this split; the users whose test target is a drawn item are the cold-start
test users, listed in ``<name>.cold.json`` with the items and counts. Profiles for this dataset must
be built from its own ``.inter`` (the profile pipeline on ``-d <name>``), which no longer holds the
removed interactions. The ``.item`` file is copied alongside.
"""

import json
import os
import shutil

import numpy as np

from dataset_converters.base import ConversionError, derived_dataset_main, output_folder, read_source_inter
from recbole_llmkd.formats.files import atomic_open, write_text_atomic
from recbole_llmkd.formats.split import leave_one_out_roles
from recbole_llmkd.integration.config_files import dataset_settings, normalizes_field


def cold_start(inter, cold_fraction=0.4, removed_share=0.5, keep=3, seed=0, user_field="user_id",
               item_field="item_id", time_field="timestamp", normalized_time=True):
    """``(kept_inter, info)``: the interactions to keep and what was made cold."""
    if not 0 < cold_fraction <= 1 or not 0 <= removed_share <= 1 or keep < 0:
        raise ConversionError(f"cold_fraction must be in (0, 1], removed_share in [0, 1], keep >= 0; got "
                              f"{cold_fraction}, {removed_share}, {keep}")
    inter = inter.reset_index(drop=True)
    by_row = leave_one_out_roles(inter, user_field, time_field, normalized_time)
    roles = np.array([by_row[i] for i in inter.index])
    items = inter[item_field].astype(str).to_numpy()
    users = inter[user_field].astype(str).to_numpy()
    targets = sorted(set(items[roles == "test"]))
    rng = np.random.default_rng(seed)
    cold = sorted(rng.choice(targets, size=max(1, round(cold_fraction * len(targets))), replace=False).tolist())
    cold = [str(c) for c in rng.permutation(cold)]
    n_removed = round(removed_share * len(cold))
    removed, downsampled = sorted(cold[:n_removed]), sorted(cold[n_removed:])
    drop = np.zeros(len(inter), dtype=bool)
    train = roles == "train"
    drop |= train & np.isin(items, removed)
    for item in downsampled:
        rows = np.flatnonzero(train & (items == item))
        if len(rows) > keep:
            drop[rng.choice(rows, size=len(rows) - keep, replace=False)] = True
    cold_users = sorted({u for u, i, r in zip(users, items, roles) if r == "test" and i in set(cold)})
    info = {"test_target_items": len(targets), "cold_items": len(cold), "removed_items": removed,
            "downsampled_items": downsampled, "keep": keep, "seed": seed, "cold_fraction": cold_fraction,
            "removed_share": removed_share, "dropped_interactions": int(drop.sum()),
            "cold_test_users": cold_users}
    return inter[~drop], info


def write_cold_start(folder_in, dataset, output_dir, name=None, normalized_time=None, **options):
    """Write the cold-start copy of ``dataset``; ``normalized_time`` None: as RecBole loads the dataset
    (:func:`recbole_llmkd.integration.config_files.dataset_settings`), so the roles match RecBole's leave-one-out."""
    name = name or f"{dataset}-coldstart"
    folder = output_folder(output_dir, name)  # a file in the way: refused before the work
    inter_path = os.path.join(folder_in, f"{dataset}.inter")
    inter, types = read_source_inter(inter_path, ("user_id", "item_id", "timestamp"))
    if normalized_time is None:
        normalized_time = normalizes_field(dataset_settings(dataset, folder_in), "timestamp")
    kept, info = cold_start(inter, normalized_time=normalized_time, **options)
    os.makedirs(folder, exist_ok=True)
    header = "\t".join(f"{c}:{types[c]}" for c in kept.columns)
    with atomic_open(os.path.join(folder, f"{name}.inter")) as f:
        f.write(header + "\n")
        kept.to_csv(f, sep="\t", header=False, index=False, lineterminator="\n")
    item_path = os.path.join(folder_in, f"{dataset}.item")
    if os.path.exists(item_path):
        with open(item_path, "rb") as src, atomic_open(os.path.join(folder, f"{name}.item"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    info = {"source": os.path.abspath(inter_path), "interactions": len(inter), "kept": len(kept),
            "normalized_time": normalized_time, **info}
    write_text_atomic(os.path.join(folder, f"{name}.cold.json"), json.dumps(info, indent=2) + "\n")
    return folder, info


def add_options(parser):
    parser.add_argument("--cold-fraction", type=float, default=0.4,
                        help="share of the distinct test-target items made cold, in (0, 1]")
    parser.add_argument("--removed-share", type=float, default=0.5,
                        help="share of the cold items that lose every training interaction, in [0, 1]")
    parser.add_argument("--keep", type=int, default=3, help="training interactions the other cold items keep")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--raw-time", action="store_true",
                        help="order by the raw time field even where RecBole's YAML for this dataset min-max "
                             "scales it (default: as RecBole loads the dataset)")


def derive(args, inter_path):
    folder, info = write_cold_start(os.path.dirname(inter_path), args.dataset, args.output, args.name,
                                    normalized_time=False if args.raw_time else None, cold_fraction=args.cold_fraction,
                                    removed_share=args.removed_share, keep=args.keep, seed=args.seed)
    return [json.dumps({k: v for k, v in info.items() if not isinstance(v, list)}, indent=2),
            f"{len(info['cold_test_users'])} cold-start test users; written to {folder}"]


def main(argv=None):
    return derived_dataset_main(argv, "python -m dataset_converters.cold_start", __doc__.splitlines()[0], "coldstart",
                                add_options, derive)


if __name__ == "__main__":
    from recbole_llmkd.user_errors import run_cli

    raise SystemExit(run_cli(main, "python -m dataset_converters.cold_start"))
