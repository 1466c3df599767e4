"""``python -m recbole_llmkd.profiles <step> [options]``: generate, embed, reduce, write, or all.

Every option of :class:`~recbole_llmkd.profiles.config.ProfileConfig` is a flag (``--max-items 30``,
``--do-sample/--no-do-sample``, ``--item-fields movie_title class``, ``--field-max-chars
default=120 movie_title=60``) and a YAML key (``--config pipeline.yaml``, repeatable; flags win).
"""

import argparse
import dataclasses
import json
import logging
import typing

from recbole_llmkd.profiles.config import DERIVED_SOURCES, ProfileConfig, load_config
from recbole_llmkd.user_errors import DEBUG_FLAG, DEBUG_HELP, RunFailed

STEPS = ("generate", "embed", "item_mean", "llm_states", "llm_item_mean", "reduce", "write", "all", "check")


def _parse_field_limits(pairs):
    limits = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value.isdigit():
            raise ValueError(f"--field-max-chars takes field=N pairs, got {pair!r}")
        limits[name] = int(value)
    return limits


def _add_option(parser, field):
    flag = "--" + field.name.replace("_", "-")
    kind = field.type
    origin_args = typing.get_args(kind)
    base = next((a for a in origin_args if a is not type(None)), kind) if origin_args else kind
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    shown = "null" if default is None else default
    common = {"dest": field.name, "default": None, "help": f"{field.metadata['help']} (default: {shown})"}
    if field.name == "dataset":
        parser.add_argument("-d", flag, **common)
    elif base is bool:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
    elif base is list:
        parser.add_argument(flag, nargs="*", metavar="VALUE", **common)
    elif base is dict:
        parser.add_argument(flag, nargs="+", metavar="FIELD=N", **common)
    else:
        parser.add_argument(flag, type=base, metavar=base.__name__.upper(), **common)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m recbole_llmkd.profiles",
                                     description="LLM user profiles -> embeddings -> UMAP/PCA -> .user file")
    parser.add_argument("step", choices=STEPS, help="the step to run: generate, embed (LLM source), item_mean, "
                        "llm_states or llm_item_mean; reduce; write; all of them in order (the source's "
                        "first steps, then reduce and write; random and shuffled: the file from "
                        "--reference-file); or check a .user file for signal")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    check = parser.add_argument_group("check (does the .user file carry signal about held-out items?)")
    check.add_argument("--neighbours", type=int, default=50, help="profile-space neighbours per user (check)")
    check.add_argument("--permutations", type=int, default=10, help="shuffles of the profiles (check)")
    check.add_argument("--sample-users", type=int, default=None,
                       help="check within a seeded random sample of this many profiled users (check)")
    add_config_options(parser)
    return parser


def add_config_options(parser):
    """``--config YAML`` and every :class:`ProfileConfig` option as a flag; other scripts that take
    the pipeline's settings use it too (``benchmarks/generation_cost.py``)."""
    parser.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="pipeline options from a YAML file (repeatable; flags override)")
    for field in dataclasses.fields(ProfileConfig):
        _add_option(parser, field)


def config_from_args(args):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ProfileConfig)}
    if values["field_max_chars"] is not None:
        values["field_max_chars"] = _parse_field_limits(values["field_max_chars"])
    return load_config(args.config, **values)


def run_step(step, config, progress=True, cached_only=False):
    """Run one step (or all four) and return ``{step: summary}``; each summary is also saved.
    ``cached_only``: ``generate`` takes every profile from the caches or stops (no LLM run)."""
    from recbole_llmkd.formats.files import write_text_atomic
    from recbole_llmkd.profiles.embed import run_embed
    from recbole_llmkd.profiles.generate import format_summary, run_generate
    from recbole_llmkd.profiles.item_mean import run_item_mean
    from recbole_llmkd.profiles.llm_states import run_llm_item_mean, run_llm_states
    from recbole_llmkd.profiles.reduce import run_reduce
    from recbole_llmkd.profiles.write import run_write, step_summary_path

    from recbole_llmkd.profiles.metadata import metadata_settings, write_metadata_texts

    if config.source in DERIVED_SOURCES:
        return {config.source: write_control(step, config)}
    first = {"llm": ("generate", "embed"), "item_mean": ("item_mean",), "metadata": ("metadata", "embed"),
             "llm_states": ("llm_states",), "llm_item_mean": ("llm_item_mean",)}[config.source]
    steps = first + ("reduce", "write") if step == "all" else (step,)
    summaries = {}
    for name in steps:
        if name == "generate":
            summary = run_generate(config, progress=progress, cached_only=cached_only)  # saves its own, per shard
            logging.getLogger(__name__).info("generate: %s", format_summary(summary))
            check_generation(summary)
        else:
            summary = {"embed": lambda: run_embed(config, progress=progress), "reduce": lambda: run_reduce(config),
                       "llm_states": lambda: run_llm_states(config, progress=progress),
                       "llm_item_mean": lambda: run_llm_item_mean(config, progress=progress),
                       "item_mean": lambda: run_item_mean(config, progress=progress),
                       "metadata": lambda: {"users": write_metadata_texts(config, *metadata_settings(config))},
                       "write": lambda: run_write(config)}[name]()
            write_text_atomic(step_summary_path(config, name), json.dumps(summary, indent=2) + "\n")
        summaries[name] = summary
        print(f"[{name}] " + json.dumps({k: v for k, v in summary.items() if k not in ("backend", "failures")}))
    return summaries


def write_control(step, config):
    """The ``random`` / ``shuffled`` file, written in one step from ``reference_file``."""
    from recbole_llmkd.profiles.controls import write_random_profiles, write_shuffled_profiles

    if step != "all":
        raise RunFailed(f"source {config.source!r} is written in one step from --reference-file: run `all`, not {step!r}")
    if not config.reference_file:
        what = "users and dims it copies" if config.source == "random" else "vectors it permutes"
        raise ValueError(f"profile source {config.source!r} needs reference_file: the .user file whose {what}")
    write = write_random_profiles if config.source == "random" else write_shuffled_profiles
    return write(config.reference_file, config.user_path)


def check_generation(summary):
    """Every request of the run failed: stop with the first error instead of going on with nothing."""
    if summary["failed"] and summary["generated"] == 0:
        first = summary["failures"][0]
        raise RunFailed(f"generate: all {summary['failed']} users it tried failed, none generated; first "
                        f"error (user {first['user']}): {first['error']}; summary in {summary['summary_file']}")
    if summary["failed"]:
        logging.getLogger(__name__).warning("generate: %d users failed; run generate again to retry them",
                                            summary["failed"])


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = config_from_args(args)
    if args.step == "check":
        from recbole_llmkd.profiles.check import check_profiles, format_check

        result = check_profiles(config, neighbours=args.neighbours, permutations=args.permutations,
                                sample_users=args.sample_users)
        print(format_check(result))
        return result
    return run_step(args.step, config, progress=not args.quiet)
