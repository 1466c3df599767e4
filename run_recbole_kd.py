"""Train and evaluate a model with RecBole, KD models included (mirrors RecBole's run_recbole.py).

    python run_recbole_kd.py -m SASRecKD -d ml-100k --kd_profile_file=output/profiles/ml-100k/ml-100k.user
    python run_recbole_kd.py --pipeline -d ml-100k            # profiles -> SASRec vs SASRecKD -> table
    python run_recbole_kd.py --pipeline -d ml-100k --preset paper   # the paper's recipe, both models

Unknown ``--key=value`` flags are read by RecBole's Config as configuration overrides (in pipeline
mode they reach both models' configs). Both modes build their runs through
:func:`recbole_llmkd.integration.quick_start.build_run`, so every key (``fast_path`` among them) means the same in both.
"""

import argparse
import sys

from recbole_llmkd import register
from recbole_llmkd.user_errors import DEBUG_FLAG, DEBUG_HELP, run_cli


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", type=str, default=None,
                        help="name of the model (default SASRecKD; with --pipeline, SASRec: the pair SASRec/SASRecKD)")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="name of the dataset")
    parser.add_argument("--config_files", type=str, default=None, help="config files, space-separated")
    parser.add_argument("--preset", type=str, default=None,
                        help="a shipped preset, read before --config_files (paper: the authors' AdamW, weight "
                             "decay and clipping for both models, and the paper's distillation)")
    parser.add_argument("--nproc", type=int, default=1, help="the number of processes in this machine")
    parser.add_argument("--ip", type=str, default="localhost", help="the ip of the master node")
    parser.add_argument("--port", type=str, default="5678", help="the port of the master node")
    parser.add_argument("--world_size", type=int, default=-1, help="total number of jobs")
    parser.add_argument("--group_offset", type=int, default=0, help="the global rank offset of this group")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    pipeline = parser.add_argument_group("the main job (--pipeline)")
    pipeline.add_argument("--pipeline", action="store_true",
                          help="build profiles, train the RecBole model and its KD model on the same split, compare")
    pipeline.add_argument("--regenerate", action="store_true", help="generate the profiles with the LLM again "
                          "instead of reusing the shipped ones (ml-100k: about an hour on 2 CPU cores)")
    pipeline.add_argument("--output_dir", type=str, default=None, help="default: output/<dataset>/pipeline")
    pipeline.add_argument("--profile_config", type=str, default=None,
                          help="profile pipeline YAML files, space-separated (python -m recbole_llmkd.profiles --help)")
    pipeline.add_argument("--profile_file", type=str, default=None,
                          help="use this .user profile file and skip the profile stages")
    pipeline.add_argument("--max_users", type=int, default=None,
                          help="generate LLM profiles for a seeded sample of N users only (a quick look; the "
                               "others train without a profile)")
    return parser


def recbole_overrides(argv):
    """The ``--key=value`` configuration overrides of ``argv``: our own flags, ``-m``/``-d`` and
    ``--config_files`` removed, so RecBole's Config, which reads ``sys.argv``, sees only those."""
    ours = {flag for action in build_parser()._actions for flag in action.option_strings}
    return [arg for arg in argv if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] not in ours]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, _ = build_parser().parse_known_args(argv)  # the rest is read by RecBole's Config from sys.argv
    register()
    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    if args.preset:
        from recbole_llmkd.integration.presets import with_preset

        config_file_list = with_preset(args.preset, config_file_list)
    # RecBole's Config reads the overrides from sys.argv (so do the --nproc processes, which spawn
    # starts with this process's sys.argv): it sees those of argv and nothing else
    saved_argv, sys.argv = sys.argv, [sys.argv[0], *recbole_overrides(argv)]
    try:
        if args.pipeline:
            from recbole_llmkd.harness.main_job import run_main_job

            return run_main_job(
                dataset=args.dataset, model=args.model or "SASRec", output_dir=args.output_dir,
                config_file_list=config_file_list,
                profile_config_files=args.profile_config.split() if args.profile_config else (),
                regenerate=args.regenerate, profile_file=args.profile_file, max_users=args.max_users,
            )
        from recbole_llmkd.integration.quick_start import run

        return run(
            args.model or "SASRecKD", args.dataset, config_file_list=config_file_list, nproc=args.nproc,
            world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset,
        )
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    sys.exit(run_cli(main, "run_recbole_kd.py"))
