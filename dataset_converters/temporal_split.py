"""A global temporal split of an atomic dataset, written as RecBole benchmark files.

    python -m dataset_converters.temporal_split -d ml-100k --output output/data --max-len 20

RecBole's own splits are per user (leave-one-out) or per interaction ratio; the paper's temporal
protocol is neither. Two cuts at global timestamp quantiles (``--valid-quantile`` < ``--test-quantile``,
computed with :func:`recbole_llmkd.formats.split.temporal_cut`, the rule the profile pipeline's
``--cut-quantile`` uses):

* train: every interaction before the validation cut, as RecBole's sequential augmentation would
  make it (each prefix of a user's sequence predicts the next item);
* valid: users with an interaction in [valid cut, test cut) and at least one before the valid cut;
  target = their first item in that window, history = their items before the valid cut;
* test: users with an interaction at or after the test cut and at least one before it; target =
  their first post-cut item, history = all their items before the test cut (the window between the
  cuts is seen at inference, not trained on).

Profiles for this split must come from training data only: run the profile pipeline with
``--cut-quantile`` equal to ``--valid-quantile``.

Output: ``<output>/<name>/<name>.{train,valid,test}.inter`` (``user_id:token item_id_list:token_seq
item_id:token``, histories truncated to the ``--max-len`` most recent items: set RecBole's
``MAX_ITEM_LIST_LENGTH`` to the same value) and ``<name>.split.json`` (cuts and counts); use it with
``benchmark_filename: [train, valid, test]`` and ``dataset: <name>`` (default name: ``<dataset>-temporal``).
"""

import json
import os

import numpy as np

from dataset_converters.base import ConversionError, derived_dataset_main, output_folder, read_source_inter
from recbole_llmkd.formats.files import atomic_open, write_text_atomic
from recbole_llmkd.formats.split import temporal_cut

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def ordered_sequences(inter, user_field="user_id", item_field="item_id", time_field="timestamp"):
    """``{user: (items, times)}`` in time order (ties keep file order)."""
    times = inter[time_field].astype(np.float64).to_numpy()
    users = inter[user_field].astype(str).to_numpy()
    items = inter[item_field].astype(str).to_numpy()
    order = np.lexsort((times, users))
    sequences = {}
    for index in order:
        seq = sequences.setdefault(users[index], ([], []))
        seq[0].append(items[index])
        seq[1].append(times[index])
    return sequences


def split_examples(sequences, valid_cut, test_cut):
    """``{"train": [...], "valid": [...], "test": [...]}``, each example ``(user, history, target)``."""
    if not valid_cut < test_cut:
        raise ConversionError(f"the validation cut ({valid_cut}) must come before the test cut ({test_cut})")
    parts = {"train": [], "valid": [], "test": []}
    for user, (items, times) in sequences.items():
        n_train = sum(1 for t in times if t < valid_cut)
        n_before_test = sum(1 for t in times if t < test_cut)
        for i in range(1, n_train):
            parts["train"].append((user, items[:i], items[i]))
        if n_train >= 1 and n_before_test > n_train:
            parts["valid"].append((user, items[:n_train], items[n_train]))
        if n_before_test >= 1 and len(items) > n_before_test:
            parts["test"].append((user, items[:n_before_test], items[n_before_test]))
    return parts


def write_split(inter_path, output_dir, name, valid_quantile=0.8, test_quantile=0.9, max_len=50,
                user_field="user_id", item_field="item_id", time_field="timestamp"):
    folder = output_folder(output_dir, name)  # a file in the way: refused before the work
    inter, _ = read_source_inter(inter_path, (user_field, item_field, time_field))
    valid_cut = temporal_cut(inter, valid_quantile, time_field)
    test_cut = temporal_cut(inter, test_quantile, time_field)
    parts = split_examples(ordered_sequences(inter, user_field, item_field, time_field), valid_cut, test_cut)
    for part in ("valid", "test"):
        if not parts[part]:
            raise ConversionError(f"{inter_path}: no {part} users with these cuts "
                                  f"(valid {valid_quantile}, test {test_quantile}); move the quantiles")
    os.makedirs(folder, exist_ok=True)
    for part, examples in parts.items():
        with atomic_open(os.path.join(folder, f"{name}.{part}.inter")) as f:
            f.write(HEADER)
            for user, history, target in examples:
                f.write(f"{user}\t{' '.join(history[-max_len:])}\t{target}\n")
    summary = {"source": os.path.abspath(inter_path), "valid_quantile": valid_quantile, "test_quantile": test_quantile,
               "valid_cut": valid_cut, "test_cut": test_cut, "max_len": max_len,
               **{f"{part}_examples": len(examples) for part, examples in parts.items()},
               "train_users": len({u for u, _, _ in parts["train"]}),
               "profile_option": f"--cut-quantile {valid_quantile}"}
    write_text_atomic(os.path.join(folder, f"{name}.split.json"), json.dumps(summary, indent=2) + "\n")
    return folder, summary


def add_options(parser):
    parser.add_argument("--valid-quantile", type=float, default=0.8,
                        help="global time quantile of the validation cut (= the profiles' --cut-quantile)")
    parser.add_argument("--test-quantile", type=float, default=0.9, help="global time quantile of the test cut")
    parser.add_argument("--max-len", type=int, default=50, help="= RecBole's MAX_ITEM_LIST_LENGTH")


def derive(args, inter_path):
    folder, summary = write_split(inter_path, args.output, args.name or f"{args.dataset}-temporal",
                                  args.valid_quantile, args.test_quantile, args.max_len)
    return [json.dumps(summary, indent=2), f"written to {folder}"]


def main(argv=None):
    return derived_dataset_main(argv, "python -m dataset_converters.temporal_split", __doc__.splitlines()[0],
                                "temporal", add_options, derive)


if __name__ == "__main__":
    from recbole_llmkd.user_errors import run_cli

    raise SystemExit(run_cli(main, "python -m dataset_converters.temporal_split"))
