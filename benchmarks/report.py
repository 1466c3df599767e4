"""Aggregate the grid's run JSONs into tables, paired tests and plots.

    python benchmarks/report.py                 # results/runs/cpu -> results/cpu/{summary.json,tables.md,*.png}
    python benchmarks/report.py --budget gpu

For every dataset × model × variant: mean ± std over seeds of Recall/NDCG@{10,20}, train seconds
per epoch and full-ranking inference seconds; against the baseline of the same dataset and model:
the relative change of the mean and two paired tests on NDCG@10,

* by seed: a paired t-test over the seeds both have (``scipy.stats.ttest_rel``);
* by user: a Wilcoxon signed-rank test over the test users, each user's NDCG@10 averaged over
  those seeds (``scipy.stats.wilcoxon``; users whose two values tie carry no information);
* unpaired, beside them: Welch's t-test over all seeds of each group (``ttest_ind(equal_var=False)``).

The attribution table (:data:`ATTRIBUTION`) asks, per dataset × model, where a gain comes from:
the schedule alone (``kd_schedule``), the distillation term as a plain regulariser (``*_single``),
the teacher's content (``kd_shuffled``, ``kd_metadata`` against ``kd_random``). Its p-values over
seeds are Holm-adjusted across every comparison the table holds, and its verdicts read the
adjusted value.

Runs are compared only when their split fingerprints match (same training sequences, same test
targets); a mismatch is an error naming the runs. The seeds of one cell are pooled only when they
were run from the same commit (``git_commit`` in the run JSON; runs written before it was recorded
count as one "unrecorded" commit) toward the same profile file (``profile_sha256``: a file rebuilt
on another CPU differs, since UMAP's layout moves with the last bits of its input);
``--allow-mixed`` pools them anyway and the tables say which.
"""

import argparse
import glob
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.grid import DEFAULT_VARIANTS, RECIPES, VARIANTS, split_variant  # noqa: E402
from recbole_llmkd.harness.main_job import save_figure  # noqa: E402

METRICS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")
TEST_METRIC = "ndcg@10"
VARIANT_ORDER = list(DEFAULT_VARIANTS) + [v for v in VARIANTS if v not in DEFAULT_VARIANTS]
RECIPE_ORDER = [None] + list(RECIPES)
# targets built without an LLM: the reviewers' controls and the cheap teacher
CONTROLS = ("kd_metadata", "kd_random", "kd_itemmean")
# a verdict needs the paired t-test over seeds below this; the user-level test is shown beside it
ALPHA = 0.05
# Where does a gain come from? (variant, against, question): base names, each trained with the
# shipped recipe (ATTRIBUTION_RECIPE: kd_schedule-nce against baseline, ...). These are the headline
# comparisons: the Holm correction runs across every one of them the runs hold.
ATTRIBUTION_RECIPE = "nce"
ATTRIBUTION = (
    ("kd", "baseline", "shipped recipe, LLM profiles: any gain?"),
    ("kd_random", "baseline", "shipped recipe, random vectors: any gain?"),
    ("kd_metadata", "baseline", "shipped recipe, genre/category text: any gain?"),
    ("kd_schedule", "baseline", "schedule alone (restart, extra patience), no distillation: any gain?"),
    ("kd_random", "kd_schedule", "distillation toward random vectors on top of the schedule"),
    ("kd_metadata", "kd_schedule", "distillation toward the genre/category text on top of the schedule"),
    ("kd", "kd_schedule", "distillation toward the LLM profiles on top of the schedule"),
    ("kd_random_single", "baseline", "single stage, random target (a plain regulariser): any gain?"),
    ("kd_metadata_single", "baseline", "single stage, genre/category target: any gain?"),
    ("kd_random_single", "kd_random", "single stage against two stages, random target"),
    ("kd_metadata_single", "kd_metadata", "single stage against two stages, genre/category target"),
    ("kd_metadata", "kd_random", "teacher content: genre/category text against random vectors"),
    ("kd", "kd_shuffled", "teacher content: LLM profiles against the same vectors shuffled across users"),
    ("kd_shuffled", "kd_random", "geometry: shuffled LLM vectors against random vectors"),
    # the teacher issue's candidate: SmolLM2's hidden states over the item texts (teacher check: items-mean)
    ("kd_llmitems", "baseline", "the LLM's reading of the item texts: any gain?"),
    ("kd_llmitems", "kd_schedule", "distillation toward the LLM's item states on top of the schedule"),
    ("kd_llmitems", "kd_random", "teacher content: the LLM's item states against random vectors"),
)
# headline comparisons outside the shipped recipe: (variant, against, question), full names
ATTRIBUTION_EXTRA = (("kd-paper", "baseline", "the paper's formulation: does it collapse?"),)
# the distillation issue's bar: a variant that keeps this share of the baseline's mean test NDCG@10
# and is not significantly worse "does not hurt"
NO_LOSS_RATIO = 0.98


def variant_order(variant):
    """Recipes first (shipped defaults, then RECIPES' order), then the variants within a recipe."""
    base, recipe = split_variant(variant)
    return RECIPE_ORDER.index(recipe), VARIANT_ORDER.index(base)


def with_recipe(base, variant):
    """The variant ``base`` trained with the recipe of ``variant``: ("kd_random", "kd-reg") -> "kd_random-reg"."""
    recipe = split_variant(variant)[1]
    return f"{base}-{recipe}" if recipe else base


class ReportError(RuntimeError):
    pass


UNRECORDED = "unrecorded"  # the commit of a run written before run JSONs recorded it


def run_commit(run):
    commit = run.get("git_commit") or UNRECORDED
    return commit + ("+dirty" if run.get("git_dirty") else "")


def short_commit(commit):
    """``run_commit``'s value with the hash cut to 12 characters (``abcdef012345+dirty``)."""
    head, plus, rest = commit.partition("+")
    return (head if head == UNRECORDED else head[:12]) + plus + rest


def run_provenance(run):
    """What one cell's seeds must share to be pooled: ``(run_commit, profile_sha256)``, the second
    "" for a run without a profile file (baselines) or written before the hash was recorded."""
    return run_commit(run), run.get("profile_sha256") or ""


def describe_provenance(provenance):
    """``abcdef012345`` or ``abcdef012345 profile 0123456789ab`` (both hashes cut to 12 characters)."""
    commit, profile = provenance
    return short_commit(commit) + (f" profile {profile[:12]}" if profile else "")


def check_provenance(groups, allow_mixed=False, remedy="pass --allow-mixed to pool them anyway"):
    """``{cell: sorted provenances}`` of the cells whose seeds come from more than one commit or
    profile file (:func:`run_provenance`); an error naming them (and ``remedy``) unless ``allow_mixed``."""
    mixed = {}
    for key, seeds in groups.items():
        provenances = sorted({run_provenance(run) for run in seeds.values()})
        if len(provenances) > 1:
            mixed[key] = provenances
    if mixed and not allow_mixed:
        raise ReportError("seeds run from different commits or toward different profile files would be pooled "
                          f"({remedy}): " + "; ".join(
                              f"{'/'.join(key)}: " + ", ".join(
                                  f"{describe_provenance(p)} (seeds "
                                  f"{', '.join(str(s) for s, r in sorted(groups[key].items()) if run_provenance(r) == p)})"
                                  for p in provenances) for key, provenances in mixed.items()))
    return mixed


def load_runs(results, budget):
    """Every run JSON of ``budget``, full or compact (``benchmarks/run_files.py``), with full per-user arrays."""
    from benchmarks.run_files import USERS_FOLDER, expand_run

    runs = []
    users_dir = os.path.join(results, "runs", USERS_FOLDER)
    for path in sorted(glob.glob(os.path.join(results, "runs", budget, "*", "*", "*", "seed*.json"))):
        with open(path, encoding="utf-8") as f:
            run = expand_run(json.load(f), users_dir)
        run["path"] = os.path.relpath(path, results)
        runs.append(run)
    return runs


def group(runs):
    groups = {}
    for run in runs:
        cell = run["cell"]
        groups.setdefault((cell["dataset"], cell["model"], cell["variant"]), {})[cell["seed"]] = run
    return groups


def check_splits(runs):
    by_dataset = {}
    for run in runs:
        by_dataset.setdefault(run["cell"]["dataset"], {}).setdefault(json.dumps(run["split"], sort_keys=True),
                                                                     []).append(run["path"])
    for dataset, splits in by_dataset.items():
        if len(splits) > 1:
            raise ReportError(f"{dataset}: runs on different splits: "
                              + "; ".join(f"{s}: {paths[:3]}" for s, paths in splits.items()))


def mean_std(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def subset_mask(run, subset):
    """Boolean mask over ``run``'s test users: all of them, or those of ``run["subsets"][subset]``."""
    users = run["per_user"].get("user", run["per_user"]["user_index"])
    if subset is None:
        return np.ones(len(users), dtype=bool)
    wanted = set(run.get("subsets", {}).get(subset, []))
    return np.array([str(u) in wanted for u in users])


def metric_value(run, metric, subset=None):
    if subset is None:
        return run["test_result"][metric]
    return float(np.asarray(run["per_user"][metric])[subset_mask(run, subset)].mean())


def valid_value(run):
    """The best validation NDCG@10 of a run (what model selection reads)."""
    return run["best_valid_result"][TEST_METRIC]


def mean_valid_change(baseline, variant, seeds):
    """Mean over ``seeds`` of the variant's best validation NDCG@10 relative to the same seed's
    baseline's (the selection rules' Δvalid); None when a seed is missing from either."""
    if any(s not in baseline or s not in variant for s in seeds):
        return None
    return float(np.mean([valid_value(variant[s]) / valid_value(baseline[s]) - 1 for s in seeds]))


def paired_valid(baseline, variant):
    """``(seeds, relative change, p over seeds)`` of the best validation NDCG@10."""
    from scipy import stats

    seeds = sorted(set(baseline) & set(variant))
    if not seeds:
        return None
    a = np.array([valid_value(baseline[s]) for s in seeds])
    b = np.array([valid_value(variant[s]) for s in seeds])
    p = float(stats.ttest_rel(b, a).pvalue) if len(seeds) >= 2 and np.any(a != b) else None
    return {"seeds": seeds, "relative_change": float(b.mean() / a.mean() - 1) if a.mean() else None, "p_seed_ttest": p}


def paired_tests(baseline, variant, subset=None):
    """``(seeds, means, p_seed, p_user, n_users)`` over the seeds both groups have (and the users of
    ``subset``, when given); ``means``: the baseline's and the variant's mean over those seeds."""
    from scipy import stats

    seeds = sorted(set(baseline) & set(variant))
    if not seeds:
        return seeds, None, None, None, 0
    a = [metric_value(baseline[s], TEST_METRIC, subset) for s in seeds]
    b = [metric_value(variant[s], TEST_METRIC, subset) for s in seeds]
    p_seed = None
    if len(seeds) >= 2 and np.any(np.asarray(a) != np.asarray(b)):
        p_seed = float(stats.ttest_rel(b, a).pvalue)
    users = baseline[seeds[0]]["per_user"]["user_index"]
    for s in seeds:
        for run in (baseline[s], variant[s]):
            if run["per_user"]["user_index"] != users:
                raise ReportError(f"{run['path']}: test users differ from {baseline[seeds[0]]['path']}")
    mask = subset_mask(baseline[seeds[0]], subset)
    per_user_a = np.mean([baseline[s]["per_user"][TEST_METRIC] for s in seeds], axis=0)[mask]
    per_user_b = np.mean([variant[s]["per_user"][TEST_METRIC] for s in seeds], axis=0)[mask]
    differs = per_user_a != per_user_b
    p_user = float(stats.wilcoxon(per_user_b[differs], per_user_a[differs]).pvalue) if differs.sum() >= 10 else None
    return seeds, (float(np.mean(a)), float(np.mean(b))), p_seed, p_user, int(mask.sum())


def welch(baseline, variant):
    """Welch's unpaired t-test of test NDCG@10 over all seeds of each group (None under 2 each)."""
    from scipy import stats

    a = [metric_value(run, TEST_METRIC) for run in baseline.values()]
    b = [metric_value(run, TEST_METRIC) for run in variant.values()]
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return None
    return float(stats.ttest_ind(b, a, equal_var=False).pvalue)


def holm(p_values):
    """Holm's step-down adjustment of ``p_values`` (None entries stay None and are not counted)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted = [None] * len(p_values)
    running = 0.0
    m = len(present)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(relative_change, p_seed, n_seeds):
    """One word for a paired comparison, decided by the test over seeds (users are not independent
    replicates of a training run): "better"/"worse" when p < ALPHA; otherwise "same" when the mean
    keeps NO_LOSS_RATIO of the other's, "same, below 0.98×" when not; "screen" under two seeds."""
    if n_seeds < 2 or relative_change is None:
        return "screen"
    if p_seed is not None and p_seed < ALPHA:
        return "better" if relative_change > 0 else "worse"
    return "same" if 1 + relative_change >= NO_LOSS_RATIO else f"same, below {NO_LOSS_RATIO:g}×"


def compare(baseline, variant, subset=None):
    seeds, means, p_seed, p_user, n_users = paired_tests(baseline, variant, subset)
    if not seeds:
        return None
    base_mean, var_mean = means
    change = float(var_mean / base_mean - 1) if base_mean else None
    return {"seeds": seeds, "metric": TEST_METRIC, "relative_change": change,
            "p_seed_ttest": p_seed, "p_user_wilcoxon": p_user, "p_seed_welch": welch(baseline, variant),
            "users": n_users, "verdict": verdict(change, p_seed, len(seeds))}


def switch_epoch(run):
    """The first epoch of a KD run's second stage (None when it never switched or has no stages)."""
    return next((h["epoch"] for h in run.get("kd_history") or () if h["stage"] == 2), None)


def best_in_stage_two(run):
    """Whether a KD run's tested (best validation) epoch came after its stage switch (None for a
    run without stages)."""
    if not run.get("kd_history") or run.get("best_epoch") is None:
        return None
    switch = switch_epoch(run)
    return switch is not None and run["best_epoch"] >= switch


def valid_by_stage(run):
    """``(best validation NDCG@10 before the stage switch, best from the switch on)`` of a KD run,
    the second None when it never switched; None for a run without stages or whose validation
    curve does not hold one score per epoch (``eval_step`` above 1)."""
    scores = run.get("valid_scores")
    if not run.get("kd_history") or not scores or len(scores) != run.get("epochs_trained"):
        return None
    switch = switch_epoch(run)
    if switch is None or switch >= len(scores):
        return max(scores), None
    return (max(scores[:switch]) if switch else None), max(scores[switch:])


def stage_summary(runs_list, baseline_runs=None):
    """Where a cell's validation best came from: mean best before and after the switch, the mean
    per-seed gain of the second stage over the first, and the baseline's mean best valid over the
    same seeds (the bar stage 1 is read against). Runs without a per-epoch curve, or that switched
    at epoch 0, are left out (``seeds`` names the rest); None when no run is left."""
    stages = [(r, valid_by_stage(r)) for r in runs_list]
    stages = [(r, s) for r, s in stages if s is not None and s[0] is not None]
    if not stages:
        return None
    switched = [(one, two) for _, (one, two) in stages if two is not None]
    seeds = [r["cell"]["seed"] for r, _ in stages]
    base = [valid_value(baseline_runs[s]) for s in seeds if baseline_runs and s in baseline_runs]
    return {"seeds": seeds, "stage_one": mean_std([one for _, (one, _) in stages]),
            "stage_two": mean_std([two for _, two in switched]) if switched else None,
            "switched": len(switched),
            "switch_gain": float(np.mean([two / one - 1 for one, two in switched])) if switched else None,
            "best_in_stage_two": sum(1 for r, _ in stages if best_in_stage_two(r)),
            "baseline_valid": mean_std(base) if len(base) == len(seeds) else None}


def attribution(groups):
    """The :data:`ATTRIBUTION` comparisons the runs hold, Holm-adjusted across all of them."""
    return holm_adjust(attribution_comparisons(groups))


def holm_adjust(rows):
    """``rows`` with ``p_seed_holm`` (their paired p, Holm-adjusted across all of them) and the verdict it gives."""
    for row, adjusted in zip(rows, holm([r["p_seed_ttest"] for r in rows])):
        row["p_seed_holm"] = adjusted
        row["verdict_holm"] = verdict(row["relative_change"], adjusted, len(row["seeds"]))
    return rows


def attribution_comparisons(groups):
    """The :data:`ATTRIBUTION` comparisons the runs hold, unadjusted."""
    rows = []
    pairs = [(f"{base}-{ATTRIBUTION_RECIPE}", "baseline" if against == "baseline" else f"{against}-{ATTRIBUTION_RECIPE}",
              question) for base, against, question in ATTRIBUTION] + list(ATTRIBUTION_EXTRA)
    mixed = check_provenance(groups, allow_mixed=True)
    for dataset, model in sorted({(d, m) for d, m, _ in groups}):
        for variant, other, question in pairs:
            if (dataset, model, variant) in groups and (dataset, model, other) in groups:
                paired = compare(groups[(dataset, model, other)], groups[(dataset, model, variant)])
                if paired is None:
                    continue
                runs = groups[(dataset, model, variant)]
                stage_two = [best_in_stage_two(runs[s]) for s in sorted(runs)]
                pooled = {name: [describe_provenance(p) for p in mixed[(dataset, model, name)]]
                          for name in (variant, other) if (dataset, model, name) in mixed}
                rows.append({"dataset": dataset, "model": model, "variant": variant, "against": other,
                             "question": question, "seeds_variant": sorted(runs),
                             "seeds_against": sorted(groups[(dataset, model, other)]),
                             "epochs": [runs[s]["epochs_trained"] for s in sorted(runs)],
                             "best_epochs": [runs[s]["best_epoch"] for s in sorted(runs)],
                             "best_in_stage_two": sum(1 for b in stage_two if b) if any(
                                 b is not None for b in stage_two) else None,
                             **({"mixed_provenance": pooled} if pooled else {}), **paired})
    return rows


def headline(results, budgets, allow_mixed=False):
    """The attribution comparisons of several budgets as one family (the README's headline reads
    them together), Holm-adjusted across all of them; each row names its budget."""
    rows = []
    for budget in budgets:
        runs = load_runs(results, budget)
        if not runs:
            raise ReportError(f"no runs in {os.path.join(results, 'runs', budget)}")
        check_splits(runs)
        groups = group(runs)
        check_provenance(groups, allow_mixed)
        rows += [{"budget": budget, **row} for row in attribution_comparisons(groups)]
    return holm_adjust(rows)


def summarize(runs, allow_mixed=False):
    check_splits(runs)
    groups = group(runs)
    mixed = check_provenance(groups, allow_mixed)
    rows = []
    for (dataset, model, variant) in sorted(groups, key=lambda k: (k[0], k[1], variant_order(k[2]))):
        seeds_runs = groups[(dataset, model, variant)]
        runs_list = [seeds_runs[s] for s in sorted(seeds_runs)]
        row = {"dataset": dataset, "model": model, "variant": variant, "seeds": sorted(seeds_runs),
               "command": runs_list[0]["cell"]["command"].rsplit(" --seeds", 1)[0]
               + " --seeds " + " ".join(map(str, sorted(seeds_runs)))}
        for metric in METRICS:
            row[metric] = mean_std([r["test_result"][metric] for r in runs_list])
        row["train_s_per_epoch"] = mean_std([r["train_seconds_per_epoch"] for r in runs_list])
        row["inference_s"] = mean_std([r["inference_seconds"] for r in runs_list])
        row["peak_memory_mb"] = mean_std([r["peak_memory_mb"] for r in runs_list])
        row["valid_ndcg@10"] = mean_std([valid_value(r) for r in runs_list])
        row["epochs"] = [r["epochs_trained"] for r in runs_list]
        row["best_epochs"] = [r["best_epoch"] for r in runs_list]
        row["commits"] = sorted({run_commit(r) for r in runs_list})
        if (dataset, model, variant) in mixed:
            row["mixed_provenance"] = [describe_provenance(p) for p in mixed[(dataset, model, variant)]]
        baseline = groups.get((dataset, model, "baseline"))
        stages = stage_summary(runs_list, baseline)
        if stages:
            row["valid_by_stage"] = stages
        if variant != "baseline" and baseline:
            paired = compare(baseline, seeds_runs)
            if paired:
                row["paired"] = paired
                row["paired_valid"] = paired_valid(baseline, seeds_runs)
        if split_variant(variant)[0] == "kd":  # what the LLM adds over other targets: KD against each control
            against = {control: compare(groups[(dataset, model, with_recipe(control, variant))], seeds_runs)
                       for control in CONTROLS if (dataset, model, with_recipe(control, variant)) in groups}
            row["against_controls"] = {c: paired for c, paired in against.items() if paired}
        for subset in sorted({name for r in runs_list for name in r.get("subsets", {})}):
            entry = {m: mean_std([metric_value(r, m, subset) for r in runs_list]) for m in ("recall@10", "ndcg@10")}
            entry["users"] = int(subset_mask(runs_list[0], subset).sum())
            if variant != "baseline" and baseline:
                entry["paired"] = compare(baseline, seeds_runs, subset)
            row.setdefault("subsets", {})[subset] = entry
        rows.append(row)
    return rows


def _pm(pair, digits=4):
    mean, std = pair
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _change(value):
    return "-" if value is None else f"{value:+.1%}"


def _p(value):
    return "-" if value is None else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def _epochs(row):
    """Epochs trained per seed, and in brackets the best (tested) epoch per seed."""
    epochs = sorted(set(row["epochs"]))
    trained = str(epochs[0]) if len(epochs) == 1 else ", ".join(map(str, row["epochs"]))
    return f"{trained} ({', '.join(map(str, row['best_epochs']))})"


VERDICT_LEGEND = (f"Verdict (against the baseline; below, the LLM run against a control): better or worse when the "
                  f"paired t-test over seeds gives p < {ALPHA:g}; otherwise same, with \"below {NO_LOSS_RATIO:g}×\" "
                  f"when the mean keeps less than {NO_LOSS_RATIO:.0%} of the other's; screen: one seed, no test.")


def _seeds(values):
    return ", ".join(map(str, values))


def format_attribution(rows, note_pooled=True):
    """The attribution table: each comparison with its paired, unpaired and Holm-adjusted p; with
    ``note_pooled``, a closing line naming the cells pooled across commits or profile files."""
    if not rows:
        return []
    budget = "budget | " if any("budget" in r for r in rows) else ""
    lines = ["", "Where the gain comes from (test NDCG@10; Δ: the variant against the other over the seeds both "
             "have; p: paired t-test over seeds, Wilcoxon over users, Welch's unpaired t-test over all seeds of each; "
             f"Holm: the paired p adjusted across the {sum(r['p_seed_ttest'] is not None for r in rows)} comparisons "
             "of this table that have one, which the verdict reads; "
             "epochs (best) and stage 2 read every seed of the variant, not only the paired ones; "
             "stage 2: runs whose tested epoch came after the stage switch):", "",
             f"| {budget}dataset | model | variant | against | seeds | ΔNDCG@10 | p (seeds) | p (users) | p (Welch) | "
             "p (Holm) | verdict (Holm) | epochs (best) | best in stage 2 | question |",
             "|---" * (14 + bool(budget)) + "|"]
    for row in rows:
        stage_two = "-" if row["best_in_stage_two"] is None else f"{row['best_in_stage_two']}/{len(row['seeds_variant'])}"
        lines.append(f"| {row['budget'] + ' | ' if budget else ''}{row['dataset']} | {row['model']} | "
                     f"{row['variant']} | {row['against']} | {len(row['seeds'])} | {_change(row['relative_change'])} | {_p(row['p_seed_ttest'])} | "
                     f"{_p(row['p_user_wilcoxon'])} | {_p(row['p_seed_welch'])} | {_p(row['p_seed_holm'])} | "
                     f"{row['verdict_holm']} | {_seeds(row['epochs'])} ({_seeds(row['best_epochs'])}) | "
                     f"{stage_two} | {row['question']} |")
    if note_pooled:
        pooled = {}
        for row in rows:
            for name, provenances in row.get("mixed_provenance", {}).items():
                pooled["/".join(k for k in (row.get("budget"), row["dataset"], row["model"], name) if k)] = provenances
        lines += pooled_note(pooled.items())
    return lines


def pooled_note(labelled):
    """The closing line naming the cells pooled with ``--allow-mixed`` (``(label, provenances)`` pairs);
    none when there are none."""
    labelled = list(labelled)
    if not labelled:
        return []
    return ["", "Pooled with --allow-mixed: these cells' seeds were run from different commits or toward different "
            "profile files: " + "; ".join(f"{label} ({', '.join(provenances)})" for label, provenances in labelled) + "."]


def format_stages(rows):
    """Validation by stage: the KD runs' best validation before and after the switch, against the baseline's."""
    staged = [row for row in rows if row.get("valid_by_stage")]
    if not staged:
        return []
    lines = ["", "Validation by stage (KD runs: best validation NDCG@10 before the stage switch and from it on, "
             "mean over seeds; the baseline's over the same seeds; Δ baseline: of the two means; switch gain: "
             "the mean of the per-seed changes of the second stage's best over the first's; stage 2 best: of the "
             "runs that switched, those whose second stage reached their first's best; runs without a per-epoch "
             "validation curve are left out, the seeds column names the rest):", "",
             "| dataset | model | variant | seeds | baseline | before the switch | Δ baseline (means) | "
             "after the switch | switch gain (per seed) | stage 2 best |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in staged:
        st = row["valid_by_stage"]
        base, one, two = st["baseline_valid"], st["stage_one"], st["stage_two"]
        best_two = f"{st['best_in_stage_two']}/{st['switched']}" if st["switched"] else "-"
        lines.append(f"| {row['dataset']} | {row['model']} | {row['variant']} | {_seeds(st['seeds'])} | "
                     f"{'-' if base is None else f'{base[0]:.4f}'} | {one[0]:.4f} | "
                     f"{'-' if base is None else _change(one[0] / base[0] - 1)} | "
                     f"{'-' if two is None else f'{two[0]:.4f}'} | {_change(st['switch_gain'])} | {best_two} |")
    return lines


def format_tables(rows, attribution_rows=()):
    lines = ["Validation (what settings are chosen on): best validation NDCG@10 of each run, paired over seeds "
             "with the baseline.", "",
             "| dataset | model | variant | seeds | valid NDCG@10 | Δvalid | p (seeds) | epochs (best) |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for row in rows:
        valid = row.get("paired_valid") or {}
        lines.append(f"| {row['dataset']} | {row['model']} | {row['variant']} | {len(row['seeds'])} | "
                     f"{_pm(row['valid_ndcg@10'])} | {_change(valid.get('relative_change'))} | "
                     f"{_p(valid.get('p_seed_ttest'))} | {_epochs(row)} |")
    lines += format_stages(rows)
    lines += ["", "Test:", "",
              "| dataset | model | variant | seeds | Recall@10 | NDCG@10 | Recall@20 | NDCG@20 | "
              "ΔNDCG@10 | p (seeds) | p (users) | p (Welch) | verdict |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        paired = row.get("paired", {})
        change = paired.get("relative_change")
        lines.append(
            f"| {row['dataset']} | {row['model']} | {row['variant']} | {len(row['seeds'])} | "
            + " | ".join(_pm(row[m]) for m in METRICS)
            + f" | {_change(change)} | {_p(paired.get('p_seed_ttest'))} | "
            f"{_p(paired.get('p_user_wilcoxon'))} | {_p(paired.get('p_seed_welch'))} | {paired.get('verdict', '-')} |")
    lines += ["", VERDICT_LEGEND]
    lines += pooled_note((f"{r['dataset']}/{r['model']}/{r['variant']}", r["mixed_provenance"])
                         for r in rows if r.get("mixed_provenance"))
    lines += format_attribution(list(attribution_rows), note_pooled=False)  # the note above names them
    lines += ["", "| dataset | model | variant | train s/epoch | ratio to baseline | inference s | peak memory MB | "
              "epochs (best) |", "|---|---|---|---:|---:|---:|---:|---|"]
    base_time = {(r["dataset"], r["model"]): r["train_s_per_epoch"][0] for r in rows if r["variant"] == "baseline"}
    for row in rows:
        base = base_time.get((row["dataset"], row["model"]))
        ratio = f"{row['train_s_per_epoch'][0] / base:.2f}" if base else "-"
        lines.append(f"| {row['dataset']} | {row['model']} | {row['variant']} | {_pm(row['train_s_per_epoch'], 1)} | "
                     f"{ratio} | {_pm(row['inference_s'], 3)} | {row['peak_memory_mb'][0]:.0f} | "
                     f"{_epochs(row)} |")
    control_rows = [(row, control, paired) for row in rows for control, paired in row.get("against_controls", {}).items()]
    if control_rows:
        lines += ["", "LLM profiles against the targets built without an LLM (kd paired with each over the seeds both "
                  "have, same recipe; Δ: kd's test NDCG@10 relative to the other's):", "",
                  "| dataset | model | variant | against | seeds | ΔNDCG@10 | p (seeds) | p (users) | verdict |",
                  "|---|---|---|---|---:|---:|---:|---:|---|"]
        for row, control, paired in control_rows:
            change = paired["relative_change"]
            lines.append(f"| {row['dataset']} | {row['model']} | {row['variant']} | {with_recipe(control, row['variant'])} | "
                         f"{len(paired['seeds'])} | "
                         f"{_change(change)} | {_p(paired['p_seed_ttest'])} | "
                         f"{_p(paired['p_user_wilcoxon'])} | {paired['verdict']} |")
    subset_rows = [(row, name, entry) for row in rows for name, entry in row.get("subsets", {}).items()]
    if subset_rows:
        lines += ["", "Test users in a subset (cold_target: users whose test item is a cold-start item):", "",
                  "| dataset | model | variant | subset | users | Recall@10 | NDCG@10 | ΔNDCG@10 | p (seeds) | p (users) |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for row, name, entry in subset_rows:
            paired = entry.get("paired") or {}
            change = paired.get("relative_change")
            lines.append(f"| {row['dataset']} | {row['model']} | {row['variant']} | {name} | {entry['users']} | "
                         f"{_pm(entry['recall@10'])} | {_pm(entry['ndcg@10'])} | "
                         f"{_change(change)} | {_p(paired.get('p_seed_ttest'))} | "
                         f"{_p(paired.get('p_user_wilcoxon'))} |")
    lines += ["", "Rerun a row:", ""] + [f"    {row['command']}" for row in rows]
    return "\n".join(lines) + "\n"


def plot_ndcg_per_seed(rows, runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["dataset"], r["model"]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    groups = group(runs)
    for ax, (dataset, model) in zip(axes[0], panels):
        variants = [r["variant"] for r in rows if (r["dataset"], r["model"]) == (dataset, model)]
        for x, variant in enumerate(variants):
            seeds = groups[(dataset, model, variant)]
            values = [seeds[s]["test_result"][TEST_METRIC] for s in sorted(seeds)]
            ax.scatter([x] * len(values), values, s=18)
            for s, v in zip(sorted(seeds), values):
                ax.annotate(str(s), (x, v), textcoords="offset points", xytext=(5, -3), fontsize=7)
            ax.hlines(np.mean(values), x - 0.25, x + 0.25, color="black")
        ax.set_xticks(range(len(variants)), variants, rotation=20)
        ax.set_title(f"{dataset} · {model}")
        ax.set_ylabel("test NDCG@10 (dots: seeds, bar: mean)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_train_overhead(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, means, stds = [], [], []
    for row in rows:
        labels.append(f"{row['dataset']}\n{row['model']}\n{row['variant']}")
        means.append(row["train_s_per_epoch"][0])
        stds.append(row["train_s_per_epoch"][1])
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows)), 3.8))
    ax.bar(range(len(rows)), means, yerr=stds, color=["gray" if "baseline" in l else "tab:blue" for l in labels])
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("train seconds / epoch (median epoch, mean ± std over seeds)")
    ax.set_title("training time per epoch (grid runs; see cost.md for interleaved timing)")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="folder holding runs/<budget>/")
    parser.add_argument("--budget", default="cpu", help="which runs to report (benchmarks/budgets/<name>.yaml)")
    parser.add_argument("--allow-mixed", action="store_true",
                        help="pool a cell's seeds even when they were run from different commits or toward different "
                             "profile files (the tables say which)")
    parser.add_argument("--headline", nargs="+", metavar="BUDGET",
                        help="instead: the attribution comparisons of these budgets as one Holm family -> "
                             "results/headline.md and headline.json (what the README's headline states)")
    args = parser.parse_args(argv)
    from recbole_llmkd.formats.files import write_text_atomic

    if args.headline:
        rows = headline(args.results, args.headline, args.allow_mixed)
        write_text_atomic(os.path.join(args.results, "headline.json"), json.dumps(rows, indent=2) + "\n")
        text = "\n".join([f"# Headline comparisons: budgets {', '.join(args.headline)}, one Holm family", "",
                          f"`python benchmarks/report.py --headline {' '.join(args.headline)}"
                          f"{' --allow-mixed' if args.allow_mixed else ''}`"]
                         + format_attribution(rows)) + "\n"
        write_text_atomic(os.path.join(args.results, "headline.md"), text)
        print(text)
        return rows
    runs = load_runs(args.results, args.budget)
    if not runs:
        raise ReportError(f"no runs in {os.path.join(args.results, 'runs', args.budget)}: run benchmarks/grid.py first")
    rows = summarize(runs, allow_mixed=args.allow_mixed)
    attribution_rows = attribution(group(runs))
    out = os.path.join(args.results, args.budget)
    os.makedirs(out, exist_ok=True)
    write_text_atomic(os.path.join(out, "summary.json"), json.dumps(rows, indent=2) + "\n")
    write_text_atomic(os.path.join(out, "attribution.json"), json.dumps(attribution_rows, indent=2) + "\n")
    tables = format_tables(rows, attribution_rows)
    write_text_atomic(os.path.join(out, "tables.md"), tables)
    plot_ndcg_per_seed(rows, runs, os.path.join(out, "ndcg_per_seed.png"))
    plot_train_overhead(rows, os.path.join(out, "train_time.png"))
    print(tables)
    print(f"written: {out}/summary.json, attribution.json, tables.md, ndcg_per_seed.png, train_time.png "
          f"({len(runs)} runs)")
    return rows


if __name__ == "__main__":
    main()
