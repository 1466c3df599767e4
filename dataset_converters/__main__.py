"""python -m dataset_converters <dataset> --input DIR --output DIR [options]"""

import argparse
import sys
import time

from dataset_converters import CONVERTERS, convert
from recbole_llmkd.user_errors import DEBUG_FLAG, DEBUG_HELP, run_cli

PROG = "python -m dataset_converters"


def main(argv=None):
    """The exit status: 0, or 2 with a one-line error for bad input (``--debug``: the traceback)."""
    return run_cli(convert_from_args, PROG, argv)


def convert_from_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("dataset", choices=sorted(CONVERTERS), help="which raw format to convert")
    parser.add_argument("--input", required=True, help="folder with the raw files")
    parser.add_argument("--output", required=True, help="RecBole data_path: files go to OUTPUT/NAME/")
    parser.add_argument("--name", default=None, help="dataset name (default: beauty, ml-20m, kion, amazon-m2)")
    parser.add_argument("--min-user-inter", type=int, default=0, help="drop users with fewer interactions (0: keep all)")
    parser.add_argument("--min-item-inter", type=int, default=0, help="drop items with fewer interactions (0: keep all)")
    parser.add_argument("--k-core", action="store_true", help="repeat the two filters until both hold")
    parser.add_argument("--min-rating", type=float, default=None, help="beauty, movielens: drop lower ratings")
    parser.add_argument("--drop-repeats", action="store_true",
                        help="keep only a user's first interaction with an item (default: keep repeats)")
    parser.add_argument("--max-text-chars", type=int, default=1000, help="longer texts are truncated")
    parser.add_argument("--max-tags", type=int, default=10, help="movielens: tags kept per movie")
    parser.add_argument("--min-watched-pct", type=float, default=None, help="kion: drop shorter watches")
    parser.add_argument("--locales", default=None, help="amazon-m2: e.g. DE,UK")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    args = parser.parse_args(argv)
    options = {"movielens": {"max_tags": args.max_tags}, "kion": {"min_watched_pct": args.min_watched_pct},
               "amazon-m2": {"locales": args.locales}}.get(args.dataset, {})
    start = time.perf_counter()
    folder, summary = convert(
        args.dataset, args.input, args.output, name=args.name, min_user_inter=args.min_user_inter,
        min_item_inter=args.min_item_inter, k_core=args.k_core, min_rating=args.min_rating,
        drop_repeats=args.drop_repeats, max_text_chars=args.max_text_chars, **options,
    )
    print(summary.table())
    print(f"written to {folder} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
