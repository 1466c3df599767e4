"""Hyper-parameter search for the KD models with RecBole's HyperTuning (hyperopt), as RecBole's
run_hyper.py does, with an objective function that finds SASRecKD/BERT4RecKD by name.

    python run_hyper_kd.py -m SASRecKD -d ml-100k --config_files="budget.yaml" --algo random --max_evals 10

The default search space (``properties/hyper/kd.hyper``, shipped with the package, RecBole's
``name type values`` format) covers kd_alpha, kd_direction, kd_loss, kd_layer, kd_aggregation, kd_epochs
and kd_beta_max; ``kd_epochs`` choices are epochs of stage 1, so keep ``epochs`` (config files) above the largest.
Results (every trial's valid and test metrics) go to ``--output_file``; the search is driven by the
validation metric (``valid_metric``), never by the test set.
"""

import argparse
import functools
import os
import sys

from recbole.trainer import HyperTuning

from recbole_llmkd import register
from recbole_llmkd.harness.experiment import train_and_test
from recbole_llmkd.integration.config_files import properties_dir
from recbole_llmkd.user_errors import DEBUG_FLAG, DEBUG_HELP, run_cli


def default_space_file():
    return os.path.join(properties_dir(), "hyper", "kd.hyper")


def kd_objective(model, dataset, config_dict=None, config_file_list=None, saved=True):
    """RecBole's objective-function contract (the dict HyperTuning reads) for any model, KD included."""
    result = train_and_test(model, dataset, {"state": "WARNING", "show_progress": False, **(config_dict or {})},
                            config_file_list, saved=saved)
    return {"model": model, "best_valid_score": result["best_valid_score"],
            "valid_score_bigger": result["valid_score_bigger"],
            "best_valid_result": result["best_valid_result"], "test_result": result["test_result"]}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", default="SASRecKD", help="the model to tune (default SASRecKD)")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="the dataset (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="fixed config files, space-separated")
    parser.add_argument("--params_file", default=None, help="search space (default: the shipped kd.hyper)")
    parser.add_argument("--output_file", default="hyper_kd.result", help="every trial's valid and test metrics")
    parser.add_argument("--algo", default="exhaustive", choices=["exhaustive", "random", "bayes"],
                        help="hyperopt's search algorithm (default exhaustive)")
    parser.add_argument("--max_evals", type=int, default=100, help="at most this many trials (default 100)")
    parser.add_argument("--early_stop", type=int, default=10, help="stop after this many trials without improvement")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    fixed = args.config_files.split() if args.config_files else None
    register()  # the shims (hyperopt's exhaustive search among them) and the KD models' names
    tuner = HyperTuning(functools.partial(kd_objective, args.model, args.dataset),
                        params_file=args.params_file or default_space_file(), fixed_config_file_list=fixed,
                        algo=args.algo, max_evals=args.max_evals, early_stop=args.early_stop)
    tuner.run()
    tuner.export_result(output_file=args.output_file)
    print("best params:", tuner.best_params)
    print("best valid score:", tuner.best_score)
    print("test result of the best params:", tuner.params2result[tuner.params2str(tuner.best_params)]["test_result"])
    return tuner


if __name__ == "__main__":
    sys.exit(run_cli(main, "run_hyper_kd.py"))
