"""Apply the pre-registered decisions of ``results/converged/attribution_rule.md`` and
``results/teacher_rule.md`` (its KD section) to the grid's validation numbers.

    python benchmarks/attribution_decision.py      # -> results/converged/attribution_decision.md

Only the best validation NDCG@10 of the screening seeds (1–3) is read; test results are not opened.
Each decision says what it decided, or which runs it still waits for: a decision is taken as soon as
the runs present settle it whatever the missing ones show (one cell where the single stage loses is
enough to keep two stages), and never before. Seeds of one cell and variant must come from one commit
and every run of a dataset from one split (as the report checks); where a decision compares runs of
different commits (ml-100k: the baseline and the first KD runs predate the recorded commit and today's
fast path), the reason says so.

* ``kd_stages``: 1 when ``kd_random_single-nce`` has a higher mean validation NDCG@10 than
  ``kd_random-nce`` on every cell where both have the screening seeds (at least two cells; any cell
  of the budgets read counts, the rule's planned ones are awaited), else 2.
* The fair baseline: the benchmark adds ``kd_schedule-nce`` as every cell's baseline when, on every
  cell where the shipped recipe helps, its mean Δvalid against the baseline is at least half of
  ``kd_random-nce``'s (a cell where the random target gains nothing on validation is named: there
  the condition holds with nothing to explain).
* The Beauty teacher: ``items-mean`` (grid target ``kd_llmitems``) is recommended for Beauty when, on
  Beauty SASRec, its mean validation NDCG@10 is above both ``kd_random-nce``'s and ``kd_schedule-nce``'s.
"""

import argparse
import os
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.report import (ReportError, check_provenance, check_splits, group, load_runs,  # noqa: E402
                               mean_valid_change, run_commit, short_commit, valid_value)

SEEDS = (1, 2, 3)
# (budget, dataset, model): the cells where the shipped recipe helps, as attribution_rule.md names them
CELLS = (("converged", "ml-100k", "BERT4Rec"), ("converged", "beauty", "SASRec"),
         ("converged_b256", "beauty", "BERT4Rec"))
# the cells attribution_rule.md plans kd_random_single-nce on (seeds 1-3)
SINGLE_STAGE_CELLS = CELLS[:2]
TEACHER_CELL = ("converged", "beauty", "SASRec")  # teacher_rule.md: Beauty SASRec decides
TOLERANCE = 1e-12  # comparisons of means are inclusive of rounding, as select_recipe's ties are
VARIANTS = ("baseline", "kd_random-nce", "kd_random_single-nce", "kd_schedule-nce", "kd_llmitems-nce")


@dataclass
class Decision:
    question: str
    outcome: Optional[str]  # None: not decided yet
    reason: str
    waiting_for: List[str]


def cell_name(cell):
    budget, dataset, model = cell
    return f"{dataset} {model}" + ("" if budget == "converged" else f" ({budget})")


def mean_valid(groups, cell, variant, seeds=SEEDS):
    """Mean best validation NDCG@10 over ``seeds``, or None when a seed is missing."""
    runs = groups.get(cell, {}).get(variant, {})
    if any(s not in runs for s in seeds):
        return None
    return float(np.mean([valid_value(runs[s]) for s in seeds]))


def delta_valid(groups, cell, variant, seeds=SEEDS):
    """Mean over seeds of the variant's best validation NDCG@10 relative to the same seed's baseline."""
    runs = groups.get(cell, {})
    return mean_valid_change(runs.get("baseline", {}), runs.get(variant, {}), seeds)


def variant_commits(runs, seeds=None):
    """The short commits of ``runs`` (``{seed: run}``), of ``seeds`` only when given, sorted."""
    return sorted({short_commit(run_commit(r)) for s, r in runs.items() if seeds is None or s in seeds})


def commits_note(groups, cell, variants, seeds=SEEDS):
    """`` (across commits: v a; w b)`` when the screening seeds of ``variants`` on ``cell`` were run
    from different commits, else ``""``."""
    commits = {v: variant_commits(groups.get(cell, {}).get(v, {}), seeds) for v in variants}
    if len({tuple(c) for c in commits.values()}) <= 1:
        return ""
    return " (across commits: " + "; ".join(f"{v} {', '.join(c)}" for v, c in commits.items()) + ")"


def missing(groups, cell, variants, seeds=SEEDS):
    runs = groups.get(cell, {})
    return [f"{cell_name(cell)} {v} seed {s}" for v in variants for s in seeds if s not in runs.get(v, {})]


def decide_stages(groups, planned=SINGLE_STAGE_CELLS):
    question = "kd_stages: one stage (a plain regulariser) instead of two?"
    single_stage, two_stages = "kd_random_single-nce", "kd_random-nce"
    done, waiting = [], []
    for cell in sorted(set(groups) | set(planned)):
        single, two = (mean_valid(groups, cell, v) for v in (single_stage, two_stages))
        if single is None or two is None:
            if groups.get(cell, {}).get(single_stage):  # started here: its missing seeds are awaited
                waiting += missing(groups, cell, (single_stage, two_stages))
            continue
        done.append((cell, single, two))
    losing = [(c, s, t) for c, s, t in done if s <= t + TOLERANCE]
    if losing:
        cell, single, two = losing[0]
        return Decision(question, "kd_stages stays 2", f"{cell_name(cell)}: one stage {single:.4f} ≤ two stages "
                        f"{two:.4f} (mean validation NDCG@10, seeds 1–3)"
                        + commits_note(groups, cell, (single_stage, two_stages)), [])
    if len(done) >= 2 and not waiting:
        return Decision(question, "kd_stages becomes 1", "one stage above two stages on every cell: " + "; ".join(
            f"{cell_name(c)} {s:.4f} > {t:.4f}" + commits_note(groups, c, (single_stage, two_stages))
            for c, s, t in done), [])
    if len(done) < 2:  # the rule's planned cells are awaited too
        waiting += [w for cell in planned for w in missing(groups, cell, (single_stage, two_stages)) if w not in waiting]
    return Decision(question, None, f"{len(done)} cell(s) complete, none where one stage loses", waiting)


def decide_fair_baseline(groups, cells=CELLS):
    question = "does the schedule explain the gain (kd_schedule-nce becomes every cell's fair baseline)?"
    compared = ("baseline", "kd_random-nce", "kd_schedule-nce")
    waiting, done = [], []
    for cell in cells:
        schedule, random_target = delta_valid(groups, cell, "kd_schedule-nce"), delta_valid(groups, cell, "kd_random-nce")
        if schedule is None or random_target is None:
            waiting += missing(groups, cell, compared)
            continue
        done.append((cell, schedule, random_target))

    def reading(cell, schedule, random_target, verb):
        text = f"{cell_name(cell)}: schedule-only Δvalid {schedule:+.1%} {verb} half of random target's {random_target:+.1%}"
        if random_target <= 0:
            text += " (the random target gains nothing on validation here)"
        return text + commits_note(groups, cell, compared)

    failing = [(c, s, r) for c, s, r in done if s < r / 2 - TOLERANCE]
    if failing:
        return Decision(question, "no: the baseline stays RecBole's model", reading(*failing[0], "<"), [])
    readings = "; ".join(reading(c, s, r, "≥") for c, s, r in done)
    if not waiting:
        return Decision(question, "yes: kd_schedule-nce is added as every cell's fair baseline", readings, [])
    return Decision(question, None, readings or "no cell complete", waiting)


def decide_teacher(groups, cell=TEACHER_CELL):
    question = "recommend the items-mean teacher (kd_llmitems) for Beauty?"
    variants = ("kd_llmitems-nce", "kd_random-nce", "kd_schedule-nce")
    means = {v: mean_valid(groups, cell, v) for v in variants}
    waiting = missing(groups, cell, variants)
    if waiting:
        return Decision(question, None, "", waiting)
    teacher, others = means[variants[0]], {v: means[v] for v in variants[1:]}
    text = f"{cell_name(cell)}: items-mean {teacher:.4f}, " + ", ".join(f"{v} {m:.4f}" for v, m in others.items())
    text += commits_note(groups, cell, variants)
    if all(teacher > m + TOLERANCE for m in others.values()):
        return Decision(question, "yes: recommended for Beauty", text, [])
    return Decision(question, "no: not recommended", text, [])


def load_groups(results, budgets):
    """``{(budget, dataset, model): {variant: {seed: run}}}`` of the decisions' variants; an error when
    there are no runs, when one dataset's runs differ in split, or when one cell's seeds of a variant
    come from different commits or profile files."""
    groups = {}
    for budget in budgets:
        runs = load_runs(results, budget)
        check_splits(runs)
        by_cell = {key: seeds for key, seeds in group(runs).items() if key[2] in VARIANTS}
        check_provenance(by_cell, remedy="the rule reads one commit and one profile file a cell: rerun the "
                                        "odd seeds from one commit toward one profile file")
        for (dataset, model, variant), seeds in by_cell.items():
            groups.setdefault((budget, dataset, model), {})[variant] = seeds
    if not groups:
        raise ReportError(f"no runs of {', '.join(VARIANTS)} under {os.path.join(results, 'runs')} ({', '.join(budgets)})")
    return groups


def table(groups):
    lines = ["| cell | variant | seeds | commit | mean valid NDCG@10 (seeds 1–3) | mean per-seed Δvalid (seeds 1–3) |",
             "|---|---|---|---|---:|---:|"]
    for cell in sorted(groups, key=lambda c: (CELLS + (c,)).index(c)):
        for variant in VARIANTS:
            runs = groups.get(cell, {}).get(variant, {})
            if not runs:
                continue
            mean, delta = mean_valid(groups, cell, variant), delta_valid(groups, cell, variant)
            commits = variant_commits(runs)
            lines.append(f"| {cell_name(cell)} | {variant} | {', '.join(map(str, sorted(runs)))} | {', '.join(commits)} | "
                         f"{'-' if mean is None else f'{mean:.4f}'} | "
                         f"{'-' if delta is None or variant == 'baseline' else f'{delta:+.1%}'} |")
    return lines


def format_decisions(groups, decisions: Tuple[Decision, ...]):
    lines = ["Decisions of [`attribution_rule.md`](attribution_rule.md) and the KD section of "
             "[`teacher_rule.md`](../teacher_rule.md), on validation only (best validation NDCG@10, "
             "seeds 1–3; Δvalid against the same seed's baseline, mean over seeds; a mean needs all "
             "three seeds). Commit `unrecorded`: run before run JSONs recorded their commit (on ml-100k also "
             "before today's fast path: the rule's caveat).", ""] + table(groups) + [""]
    for d in decisions:
        if d.outcome:
            lines.append(f"* {d.question} **{d.outcome}** ({d.reason}).")
        else:
            reason = f" {d.reason};" if d.reason else ""
            lines.append(f"* {d.question} Not decided yet:{reason} waiting for {', '.join(d.waiting_for)}.")
    lines += ["", "Rerun: python benchmarks/attribution_decision.py"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from recbole_llmkd.formats.files import write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="folder holding runs/<budget>/")
    args = parser.parse_args(argv)
    try:
        groups = load_groups(args.results, sorted({cell[0] for cell in CELLS}))
    except ReportError as err:
        raise SystemExit(f"cannot decide: {err}")
    decisions = (decide_stages(groups), decide_fair_baseline(groups), decide_teacher(groups))
    text = format_decisions(groups, decisions)
    out = os.path.join(args.results, "converged", "attribution_decision.md")
    write_text_atomic(out, text)
    print(text + f"\nwritten: {out}")


if __name__ == "__main__":
    main()
