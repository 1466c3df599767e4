"""Apply the pre-registered rule of ``results/<budget>/selection_rule.md`` to the grid's validation numbers.

    python benchmarks/select_recipe.py --budget converged      # -> results/converged/selection.md

For each candidate recipe and each profile source, the best validation NDCG@10 of every seed is
compared with the baseline of the same seed (relative change), and the changes are averaged over
the seeds. The rule, in order:

1. no harm first: the candidate whose worst source (lowest mean change) is highest wins;
2. when the best worst-source values are within ``--tie`` (1 point) of each other, the candidate
   with the higher mean change over the sources whose teacher check shows signal wins among them;
3. when every candidate's worst source is below ``--floor`` (-2%), nothing is chosen: the rule
   asks for a second round with smaller α.

Only validation numbers are read; the test results in the same files are not opened. A cell
missing a seed is an error naming it, so an unfinished screen cannot choose.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.report import group, load_runs, mean_valid_change  # noqa: E402

# grid variant of each profile source, and its name in results/teacher_check.json
SOURCES = {"llm": "kd", "metadata": "kd_metadata", "itemmean": "kd_itemmean", "random": "kd_random"}


class SelectionError(RuntimeError):
    pass


@dataclass
class Candidate:
    recipe: str
    changes: Dict[str, float]   # source -> mean relative change of the best validation NDCG@10
    signal_sources: List[str]

    @property
    def worst(self) -> float:
        return min(self.changes.values())

    @property
    def worst_source(self) -> str:
        return min(self.changes, key=self.changes.get)

    @property
    def signal_mean(self) -> Optional[float]:
        values = [self.changes[s] for s in self.signal_sources if s in self.changes]
        return float(np.mean(values)) if values else None


def signal_sources(teacher_check, dataset):
    """The grid's sources (:data:`SOURCES`) of ``dataset`` whose teacher check over all users (not a
    ``sample_users`` row) has a 95% interval of the lift above 1; other teacher designs are not
    candidates' sources and are left out."""
    return [row["source"] for row in teacher_check
            if row["dataset"] == dataset and row.get("design", row["source"]) in SOURCES
            and not row.get("sample_users") and row["lift_ci95"][0] > 1.0]


def mean_change(baseline, variant, seeds, cell):
    change = mean_valid_change(baseline, variant, seeds)
    if change is None:
        missing = [s for s in seeds if s not in baseline or s not in variant]
        raise SelectionError(f"{cell}: no run for seed(s) {missing}; run the grid for them before choosing")
    return change


def candidates(groups, dataset, model, recipes, sources, seeds, signal):
    baseline = groups.get((dataset, model, "baseline"), {})
    out = []
    for recipe in recipes:
        changes = {}
        for source in sources:
            variant = f"{SOURCES[source]}-{recipe}"
            changes[source] = mean_change(baseline, groups.get((dataset, model, variant), {}), seeds,
                                          f"{dataset} {model} {variant}")
        out.append(Candidate(recipe, changes, signal))
    return out


def choose(cands, tie=0.01, floor=-0.02):
    """``(chosen recipe or None, the reason)`` by the rule in the module docstring."""
    best_worst = max(c.worst for c in cands)
    if best_worst < floor:
        return None, (f"every candidate's worst source is below {floor:+.0%}: run a second round with "
                      "smaller kd_alpha before choosing")
    tied = [c for c in cands if best_worst - c.worst <= tie + 1e-12]  # inclusive, despite rounding
    if len(tied) == 1:
        return tied[0].recipe, f"highest worst-source change ({tied[0].worst:+.1%}, {tied[0].worst_source})"
    scored = [c for c in tied if c.signal_mean is not None]
    if not scored:
        winner = max(tied, key=lambda c: c.worst)
        return winner.recipe, "worst sources tied and no source shows signal: highest worst source"
    winner = max(scored, key=lambda c: c.signal_mean)
    names = ", ".join(c.recipe for c in tied)
    return winner.recipe, (f"worst sources of {names} within {tie:.0%} of each other; highest mean over the "
                           f"sources with signal ({winner.signal_mean:+.1%})")


def format_selection(cands, chosen, reason, dataset, model, seeds, sources, budget):
    head = ["recipe"] + [f"Δvalid {s}" for s in sources] + ["worst", "mean over signal sources"]
    lines = [f"Selection on validation: {dataset} {model}, budget {budget}, seeds "
             f"{', '.join(map(str, seeds))}; Δvalid: best validation NDCG@10 against the baseline of the same "
             "seed, mean over seeds. Sources with signal (teacher check): "
             f"{', '.join(cands[0].signal_sources) or 'none'}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for c in cands:
        cells = [c.recipe] + [f"{c.changes[s]:+.1%}" for s in sources]
        cells += [f"{c.worst:+.1%} ({c.worst_source})",
                  "-" if c.signal_mean is None else f"{c.signal_mean:+.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Chosen: **{chosen}** ({reason})." if chosen else f"Nothing chosen: {reason}.", "",
              "Rerun: python benchmarks/select_recipe.py --budget " + budget]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="folder holding runs/<budget>/")
    parser.add_argument("--budget", default="converged", help="which runs to read")
    parser.add_argument("--dataset", default="ml-100k", help="the screening dataset")
    parser.add_argument("--model", default="SASRec", help="the screening backbone")
    parser.add_argument("--recipes", nargs="+", default=["reg", "nce"], help="candidate recipes (variant suffixes)")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES), help="profile sources each recipe is judged on")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="the screening seeds (validation only)")
    parser.add_argument("--tie", type=float, default=0.01, help="worst-source changes within this of the best tie")
    parser.add_argument("--floor", type=float, default=-0.02, help="below this worst-source change nothing is chosen")
    parser.add_argument("--teacher-check", default=None, help="default: <results>/teacher_check.json")
    args = parser.parse_args(argv)

    check_path = args.teacher_check or os.path.join(args.results, "teacher_check.json")
    try:
        with open(check_path, encoding="utf-8") as f:
            signal = signal_sources(json.load(f), args.dataset)
    except FileNotFoundError:
        raise SystemExit(f"{check_path}: no teacher check; run python benchmarks/teacher_check.py first")
    try:
        cands = candidates(group(load_runs(args.results, args.budget)), args.dataset, args.model,
                           args.recipes, args.sources, args.seeds, signal)
    except SelectionError as err:
        raise SystemExit(f"cannot choose yet: {err}")
    chosen, reason = choose(cands, args.tie, args.floor)
    text = format_selection(cands, chosen, reason, args.dataset, args.model, args.seeds, args.sources, args.budget)
    out = os.path.join(args.results, args.budget, "selection.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(out + ".tmp", out)
    print(text + f"\nwritten: {out}")


if __name__ == "__main__":
    main()
