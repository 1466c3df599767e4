"""benchmarks/report.py on hand-made runs: aggregation, relative change, paired tests, split check."""

import numpy as np
import pytest
from scipy import stats

from benchmarks import report


def run(variant, seed, per_user, split="s", dataset="ml-100k", valid=None):
    per_user = [float(v) for v in per_user]
    mean = float(np.mean(per_user))
    return {"cell": {"dataset": dataset, "model": "SASRec", "variant": variant, "seed": seed,
                     "command": f"python benchmarks/grid.py --variants {variant} --seeds {seed}"},
            "test_result": {"recall@10": mean, "ndcg@10": mean, "recall@20": mean, "ndcg@20": mean},
            "best_valid_result": {"ndcg@10": mean + 0.01 if valid is None else valid},
            "per_user": {"user_index": list(range(1, len(per_user) + 1)), "ndcg@10": per_user, "recall@10": per_user},
            "split": {"train": "t", "test": split}, "train_seconds_per_epoch": 10.0 + seed,
            "inference_seconds": 0.5, "peak_memory_mb": 100.0, "epochs_trained": 8, "best_epoch": 7,
            "path": f"{variant}/seed{seed}.json"}


@pytest.fixture
def runs():
    rng = np.random.default_rng(0)
    out = []
    for seed in (1, 2, 3):
        base = rng.uniform(0, 0.2, size=40)
        out.append(run("baseline", seed, base))
        out.append(run("kd", seed, base + 0.01 * seed))
    return out


def test_means_changes_and_paired_tests(runs):
    rows = report.summarize(runs)
    base, kd = rows
    assert [r["variant"] for r in rows] == ["baseline", "kd"] and "paired" not in base
    assert base["train_s_per_epoch"] == pytest.approx((12.0, 1.0))
    paired = kd["paired"]
    assert paired["seeds"] == [1, 2, 3] and paired["users"] == 40
    base_means = [r["test_result"]["ndcg@10"] for r in runs if r["cell"]["variant"] == "baseline"]
    assert paired["relative_change"] == pytest.approx((np.mean(base_means) + 0.02) / np.mean(base_means) - 1)
    kd_means = [m + 0.01 * s for m, s in zip(base_means, (1, 2, 3))]
    assert paired["p_seed_ttest"] == pytest.approx(stats.ttest_rel(kd_means, base_means).pvalue)
    assert paired["p_user_wilcoxon"] < 1e-6  # every user improves by 0.02 on average
    assert kd["command"].endswith("--variants kd --seeds 1 2 3")


@pytest.mark.parametrize("control", ["kd_metadata", "kd_random", "kd_itemmean"])
def test_kd_is_paired_against_each_control(runs, control):
    kd_runs = {r["cell"]["seed"]: r for r in runs if r["cell"]["variant"] == "kd"}
    # the control is 0.004 * seed below kd for every user, and has seeds 1 and 3 only
    runs += [run(control, seed, np.asarray(kd_runs[seed]["per_user"]["ndcg@10"]) - 0.004 * seed) for seed in (1, 3)]
    kd = next(r for r in report.summarize(runs) if r["variant"] == "kd")
    paired = kd["against_controls"][control]
    assert list(kd["against_controls"]) == [control] and paired["seeds"] == [1, 3]
    kd_means = [kd_runs[s]["test_result"]["ndcg@10"] for s in (1, 3)]
    control_means = [kd_means[0] - 0.004, kd_means[1] - 0.012]
    assert paired["relative_change"] == pytest.approx(np.mean(kd_means) / np.mean(control_means) - 1)
    assert paired["p_seed_ttest"] == pytest.approx(stats.ttest_rel(kd_means, control_means).pvalue)
    assert paired["p_user_wilcoxon"] < 1e-6
    tables = report.format_tables(report.summarize(runs))
    assert (f"| ml-100k | SASRec | kd | {control} | 2 | {paired['relative_change']:+.1%} | "
            f"{paired['p_seed_ttest']:.2g} | <1e-4 |") in tables


def test_recipe_variants_are_paired_with_the_controls_of_the_same_recipe(runs):
    kd_runs = {r["cell"]["seed"]: r for r in runs if r["cell"]["variant"] == "kd"}
    for seed in (1, 2, 3):
        per_user = np.asarray(kd_runs[seed]["per_user"]["ndcg@10"])
        runs.append(run("kd-reg", seed, per_user + 0.01))
        runs.append(run("kd_random-reg", seed, per_user))
        runs.append(run("kd_random", seed, per_user - 0.05))
    rows = report.summarize(runs)
    assert [r["variant"] for r in rows] == ["baseline", "kd", "kd_random", "kd-reg", "kd_random-reg"]
    reg = rows[3]
    assert list(reg["against_controls"]) == ["kd_random"]
    kd_means = [kd_runs[s]["test_result"]["ndcg@10"] for s in (1, 2, 3)]
    assert reg["against_controls"]["kd_random"]["relative_change"] == pytest.approx(
        (np.mean(kd_means) + 0.01) / np.mean(kd_means) - 1)
    assert "| ml-100k | SASRec | kd-reg | kd_random-reg | 3 |" in report.format_tables(rows)


def test_validation_is_paired_with_the_baseline_over_seeds():
    runs = []
    for seed, (base_valid, kd_valid) in enumerate([(0.060, 0.063), (0.062, 0.064), (0.061, 0.066)], start=1):
        runs += [run("baseline", seed, [0.05] * 10, valid=base_valid), run("kd", seed, [0.05] * 10, valid=kd_valid)]
    kd = report.summarize(runs)[1]
    assert kd["valid_ndcg@10"] == pytest.approx((np.mean([0.063, 0.064, 0.066]), np.std([0.063, 0.064, 0.066], ddof=1)))
    assert kd["paired_valid"]["relative_change"] == pytest.approx(0.193 / 0.183 - 1)
    assert kd["paired_valid"]["p_seed_ttest"] == pytest.approx(
        stats.ttest_rel([0.063, 0.064, 0.066], [0.060, 0.062, 0.061]).pvalue)
    assert "| ml-100k | SASRec | kd | 3 | 0.0643 ± 0.0015 | +5.5% |" in report.format_tables(report.summarize(runs))


def test_identical_runs_have_no_test(runs):
    same = [run("baseline", 1, [0.1] * 20), run("kd", 1, [0.1] * 20)]
    kd = report.summarize(same)[1]
    assert kd["paired"]["relative_change"] == 0.0
    assert kd["paired"]["p_seed_ttest"] is None and kd["paired"]["p_user_wilcoxon"] is None


@pytest.mark.parametrize("change, p_seed, n_seeds, expected", [
    (0.029, 0.025, 5, "better"),
    (-0.050, 0.049, 3, "worse"),
    (-0.008, 0.75, 5, "same"),
    (-0.020, 0.40, 5, "same"),  # exactly 0.98 x the baseline still meets the bar
    (-0.062, 0.36, 3, "same, below 0.98×"),
    (0.030, None, 3, "same"),  # identical per-seed values: no test
    (0.239, None, 1, "screen"),
])
def test_verdict_reads_the_seed_test_and_the_bar(change, p_seed, n_seeds, expected):
    assert report.verdict(change, p_seed, n_seeds) == expected


def test_tables_give_each_comparison_a_verdict(runs):
    rows = report.summarize(runs)
    paired = rows[1]["paired"]
    # +0.01, +0.02, +0.03 over three seeds: every user better (p < 1e-4) but p 0.074 over seeds, so "same"
    assert paired["p_seed_ttest"] == pytest.approx(0.0742, abs=1e-4) and paired["verdict"] == "same"
    tables = report.format_tables(rows)
    assert (f"| {paired['relative_change']:+.1%} | 0.074 | <1e-4 | {paired['p_seed_welch']:.2g} | same |") in tables
    assert "| ml-100k | SASRec | baseline | 3 |" in tables and tables.count("| - | - | - | - |") == 1
    assert report.VERDICT_LEGEND in tables


def test_different_splits_are_refused(runs):
    runs.append(run("kd", 4, [0.1] * 40, split="other"))
    with pytest.raises(report.ReportError, match="different splits"):
        report.summarize(runs)


def test_tables_show_mean_std_change_and_commands(runs):
    tables = report.format_tables(report.summarize(runs))
    assert "| ml-100k | SASRec | kd | 3 |" in tables and "±" in tables
    assert "python benchmarks/grid.py --variants kd --seeds 1 2 3" in tables


def test_subset_metrics_use_only_the_subset_users(runs):
    for r in runs:
        r["per_user"]["user"] = [str(u) for u in r["per_user"]["user_index"]]
        r["subsets"] = {"cold_target": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]}
    rows = report.summarize(runs)
    base, kd = rows
    first = [r for r in runs if r["cell"]["variant"] == "baseline"]
    expected = [np.mean(r["per_user"]["ndcg@10"][:12]) for r in first]
    assert base["subsets"]["cold_target"]["ndcg@10"] == pytest.approx((np.mean(expected), np.std(expected, ddof=1)))
    assert base["subsets"]["cold_target"]["users"] == 12
    paired = kd["subsets"]["cold_target"]["paired"]
    assert paired["users"] == 12 and paired["relative_change"] == pytest.approx(0.02 / np.mean(expected))
    assert "| ml-100k | SASRec | kd | cold_target | 12 |" in report.format_tables(rows)


def test_welch_uses_every_seed_of_each_group_unpaired(runs):
    runs.append(run("kd", 4, np.full(40, 0.3)))  # a seed the baseline lacks: Welch reads it, the paired test does not
    kd = report.summarize(runs)[1]
    base_means = [r["test_result"]["ndcg@10"] for r in runs if r["cell"]["variant"] == "baseline"]
    kd_means = [r["test_result"]["ndcg@10"] for r in runs if r["cell"]["variant"] == "kd"]
    assert kd["paired"]["seeds"] == [1, 2, 3] and len(kd_means) == 4
    assert kd["paired"]["p_seed_welch"] == pytest.approx(stats.ttest_ind(kd_means, base_means, equal_var=False).pvalue)


@pytest.mark.parametrize("p_values, expected", [
    ([0.01, 0.04, 0.03, None, 0.2], [0.04, 0.09, 0.09, None, 0.2]),
    ([0.5, 0.6], [1.0, 1.0]),
    ([None], [None]),
    ([], []),
])
def test_holm_adjustment(p_values, expected):
    assert report.holm(p_values) == pytest.approx(expected)


def test_seeds_from_different_commits_are_not_pooled_unless_allowed(runs):
    for r in runs:
        r["git_commit"] = "a" * 40
    runs[-1]["git_commit"] = "b" * 40  # kd seed 3
    runs[-3]["git_dirty"] = True  # kd seed 2: the same commit with uncommitted changes
    with pytest.raises(report.ReportError, match=r"--allow-mixed.*ml-100k/SASRec/kd: aaaaaaaaaaaa \(seeds 1\), "
                                                 r"aaaaaaaaaaaa\+dirty \(seeds 2\), bbbbbbbbbbbb \(seeds 3\)$"):
        report.summarize(runs)
    rows = report.summarize(runs, allow_mixed=True)
    assert "mixed_provenance" not in rows[0]
    assert rows[1]["mixed_provenance"] == ["aaaaaaaaaaaa", "aaaaaaaaaaaa+dirty", "bbbbbbbbbbbb"]
    assert ("toward different profile files: ml-100k/SASRec/kd (aaaaaaaaaaaa, aaaaaaaaaaaa+dirty, bbbbbbbbbbbb)."
            in report.format_tables(rows))


def test_seeds_toward_different_profile_files_are_not_pooled_unless_allowed(runs):
    """One commit, two builds of the profile file (a rebuild on another CPU is another UMAP layout)."""
    for r in runs:
        r["git_commit"] = "a" * 40
        if r["cell"]["variant"] == "kd":
            r["profile_sha256"] = ("1" if r["cell"]["seed"] < 3 else "2") * 64
    with pytest.raises(report.ReportError, match=r"different profile files .*ml-100k/SASRec/kd: "
                                                 r"aaaaaaaaaaaa profile 111111111111 \(seeds 1, 2\), "
                                                 r"aaaaaaaaaaaa profile 222222222222 \(seeds 3\)$"):
        report.summarize(runs)
    rows = report.summarize(runs, allow_mixed=True)
    assert rows[1]["mixed_provenance"] == ["aaaaaaaaaaaa profile 111111111111", "aaaaaaaaaaaa profile 222222222222"]
    assert rows[1]["commits"] == ["a" * 40] and "mixed_provenance" not in rows[0]


def test_a_pooled_cell_is_named_once_in_the_tables(runs):
    for r in runs:
        if r["cell"]["variant"] == "kd":  # an attribution comparison: kd_random-nce against the baseline
            r["cell"]["variant"] = "kd_random-nce"
            r["profile_sha256"] = ("1" if r["cell"]["seed"] < 3 else "2") * 64
    attribution = report.attribution(report.group(runs))
    assert attribution[0]["mixed_provenance"] == {"kd_random-nce": ["unrecorded profile 111111111111",
                                                                    "unrecorded profile 222222222222"]}
    tables = report.format_tables(report.summarize(runs, allow_mixed=True), attribution)
    assert tables.count("Pooled with --allow-mixed") == 1
    assert "ml-100k/SASRec/kd_random-nce (unrecorded profile 111111111111, unrecorded profile 222222222222)" in tables
    assert "Pooled with --allow-mixed" in "\n".join(report.format_attribution(attribution))


def test_a_seed_without_a_recorded_profile_hash_is_not_pooled_with_hashed_ones(runs):
    runs[1]["profile_sha256"] = "f" * 64  # kd seed 1; seeds 2 and 3 predate the hash
    with pytest.raises(report.ReportError, match=r"kd: unrecorded \(seeds 2, 3\), unrecorded profile ffffffffffff "
                                                 r"\(seeds 1\)$"):
        report.summarize(runs)


def test_runs_without_a_recorded_commit_pool_as_one(runs):
    assert [r["commits"] for r in report.summarize(runs)] == [["unrecorded"], ["unrecorded"]]
    runs[-1]["git_commit"] = "c" * 40
    with pytest.raises(report.ReportError, match=r"kd: cccccccccccc \(seeds 3\), unrecorded \(seeds 1, 2\)$"):
        report.summarize(runs)


def test_attribution_compares_schedule_regulariser_and_teacher_with_holm():
    rng = np.random.default_rng(1)
    runs, history = [], [{"epoch": 0, "stage": 1}, {"epoch": 1, "stage": 1}, {"epoch": 2, "stage": 2}]
    for seed in (1, 2, 3, 4, 5):
        base = rng.uniform(0, 0.2, size=40)
        runs.append(run("baseline", seed, base))
        for variant, shift in (("kd_schedule-nce", 0.004), ("kd_random-nce", 0.01), ("kd_random_single-nce", 0.0)):
            r = run(variant, seed, base + shift * seed)
            r["kd_history"] = history if "single" not in variant else history[:2]
            r["best_epoch"] = 2 if seed % 2 else 1
            runs.append(r)
    rows = report.attribution(report.group(runs))
    pairs = [(r["variant"], r["against"]) for r in rows]
    assert pairs == [("kd_random-nce", "baseline"), ("kd_schedule-nce", "baseline"),
                     ("kd_random-nce", "kd_schedule-nce"), ("kd_random_single-nce", "baseline"),
                     ("kd_random_single-nce", "kd_random-nce")]
    raw = [r["p_seed_ttest"] for r in rows]
    assert [r["p_seed_holm"] for r in rows] == pytest.approx(report.holm(raw))
    assert all(r["p_seed_holm"] >= r["p_seed_ttest"] for r in rows if r["p_seed_ttest"] is not None)
    single = rows[3]
    assert single["relative_change"] == 0.0 and single["verdict_holm"] == "same"
    assert rows[1]["best_in_stage_two"] == 3 and single["best_in_stage_two"] == 0  # seeds 1, 3, 5 after the switch
    assert rows[0]["epochs"] == [8] * 5 and rows[0]["seeds"] == [1, 2, 3, 4, 5]
    tables = report.format_tables(report.summarize(runs), rows)
    assert "Holm: the paired p adjusted across the 4 comparisons of this table that have one" in tables
    assert (f"| ml-100k | SASRec | kd_schedule-nce | baseline | 5 | {rows[1]['relative_change']:+.1%} | "
            f"{rows[1]['p_seed_ttest']:.2g} |") in tables


def test_the_headline_is_one_holm_family_across_budgets(tmp_path):
    import json

    rng = np.random.default_rng(2)
    raw = []
    for budget, shift in (("a", 0.01), ("b", 0.02)):
        for seed in (1, 2, 3):
            base = rng.uniform(0, 0.2, size=30)
            for variant, values in (("baseline", base), ("kd_random-nce", base + shift * seed)):
                r = run(variant, seed, values)
                r["kd_history"] = None
                folder = tmp_path / "runs" / budget / "ml-100k" / "SASRec" / variant
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"seed{seed}.json").write_text(json.dumps({k: v for k, v in r.items() if k != "path"}))
        raw.append(report.attribution(report.group(report.load_runs(str(tmp_path), budget)))[0]["p_seed_ttest"])
    rows = report.main(["--results", str(tmp_path), "--headline", "a", "b"])
    assert [(r["budget"], r["variant"], r["against"]) for r in rows] == [("a", "kd_random-nce", "baseline"),
                                                                        ("b", "kd_random-nce", "baseline")]
    assert [r["p_seed_holm"] for r in rows] == pytest.approx(report.holm(raw))
    assert json.loads((tmp_path / "headline.json").read_text())[1]["budget"] == "b"
    text = (tmp_path / "headline.md").read_text()
    assert "`python benchmarks/report.py --headline a b`" in text and "| b | ml-100k | SASRec | kd_random-nce |" in text
    assert "Pooled with --allow-mixed" not in text
    shas = {}
    for path in sorted((tmp_path / "runs" / "b").rglob("kd_random-nce/seed*.json")):
        data = json.loads(path.read_text())
        data["profile_sha256"] = shas.setdefault(path.name, ("3" if path.name == "seed3.json" else "4") * 64)
        path.write_text(json.dumps(data))
    with pytest.raises(report.ReportError, match=r"ml-100k/SASRec/kd_random-nce: unrecorded profile 333333333333 "
                                                 r"\(seeds 3\), unrecorded profile 444444444444 \(seeds 1, 2\)$"):
        report.main(["--results", str(tmp_path), "--headline", "a", "b"])
    rows = report.main(["--results", str(tmp_path), "--headline", "a", "b", "--allow-mixed"])
    assert "mixed_provenance" not in rows[0] and rows[1]["mixed_provenance"] == {
        "kd_random-nce": ["unrecorded profile 333333333333", "unrecorded profile 444444444444"]}
    text = (tmp_path / "headline.md").read_text()
    assert "`python benchmarks/report.py --headline a b --allow-mixed`" in text
    assert text.rstrip().endswith("toward different profile files: b/ml-100k/SASRec/kd_random-nce "
                                  "(unrecorded profile 333333333333, unrecorded profile 444444444444).")


SWITCH_AT_2 = [{"epoch": 0, "stage": 1}, {"epoch": 1, "stage": 1}, {"epoch": 2, "stage": 2}, {"epoch": 3, "stage": 2}]


def staged_run(variant, seed, scores, history=SWITCH_AT_2, per_user=(0.1, 0.2, 0.3)):
    """A KD run whose curve, best epoch and best validation agree (ties go to the later epoch, as in RecBole)."""
    r = run(variant, seed, per_user, valid=max(scores))
    best = max(i for i, v in enumerate(scores) if v == max(scores))
    r.update(kd_history=history[:len(scores)], valid_scores=list(scores), epochs_trained=len(scores), best_epoch=best)
    return r


@pytest.mark.parametrize("scores, history, expected", [
    ([0.10, 0.30, 0.20, 0.25], SWITCH_AT_2, (0.30, 0.25)),  # best before the switch, best from it on
    ([0.10, 0.30, 0.20, 0.30], SWITCH_AT_2, (0.30, 0.30)),  # a tie
    ([0.10, 0.30], SWITCH_AT_2, (0.30, None)),  # stopped in stage 1: never switched
    ([0.10, 0.30], [{"epoch": 0, "stage": 2}, {"epoch": 1, "stage": 2}], (None, 0.30)),  # switched at epoch 0
])
def test_validation_is_split_at_the_stage_switch(scores, history, expected):
    r = staged_run("kd_random-nce", 1, scores, history)
    assert report.valid_by_stage(r) == expected
    if expected[1] is not None:  # the existing count of a best after the switch agrees, ties included
        assert report.best_in_stage_two(r) == (expected[1] >= (expected[0] or 0))


@pytest.mark.parametrize("changes", [
    {"kd_history": None},  # the baseline: no stages
    {"kd_history": []},
    {"epochs_trained": 8},  # eval_step 2: the scores are not one per epoch
])
def test_a_run_without_a_usable_curve_has_no_stages(changes):
    r = staged_run("kd_random-nce", 1, [0.10, 0.30, 0.20, 0.25])
    r.update(changes)
    assert report.valid_by_stage(r) is None


def test_the_stage_table_reads_each_stage_against_the_baseline():
    runs = []
    for seed, (one, two) in zip((1, 2, 3), ((0.060, 0.072), (0.064, 0.070), (0.062, 0.061))):
        runs.append(run("baseline", seed, [0.1, 0.2, 0.3], valid=0.0650))
        runs.append(staged_run("kd_random-nce", seed, [one - 0.01, one, two - 0.01, two]))
    runs.append(staged_run("kd_random-nce", 4, [0.07, 0.05], [{"epoch": 0, "stage": 2}, {"epoch": 1, "stage": 2}]))
    for seed in (1, 2):
        runs.append(staged_run("kd_random_single-nce", seed, [0.060, 0.066], SWITCH_AT_2[:2]))
    rows = report.summarize(runs)
    stages = next(row for row in rows if row["variant"] == "kd_random-nce")["valid_by_stage"]
    assert stages["seeds"] == [1, 2, 3]  # seed 4 switched at epoch 0: no stage 1 to read
    assert stages["stage_one"][0] == pytest.approx(0.062) and stages["stage_two"][0] == pytest.approx(0.0676667, abs=1e-6)
    assert stages["switch_gain"] == pytest.approx(np.mean([0.072 / 0.060, 0.070 / 0.064, 0.061 / 0.062]) - 1)
    assert stages["best_in_stage_two"] == 2 and stages["switched"] == 3 and stages["baseline_valid"][0] == pytest.approx(0.065)
    assert "valid_by_stage" not in rows[0]  # the baseline has no stages
    table = report.format_tables(rows)
    gain = f"{stages['switch_gain']:+.1%}"
    assert f"| ml-100k | SASRec | kd_random-nce | 1, 2, 3 | 0.0650 | 0.0620 | -4.6% | 0.0677 | {gain} | 2/3 |" in table
    # never switched: no second stage, no count; the baseline has seeds 1 and 2 of it
    assert "| ml-100k | SASRec | kd_random_single-nce | 1, 2 | 0.0650 | 0.0660 | +1.5% | - | - | - |" in table


def test_the_stage_table_shows_no_baseline_where_a_seed_is_missing():
    runs = [run("baseline", 1, [0.1, 0.2, 0.3], valid=0.0650)]
    runs += [staged_run("kd_random-nce", seed, [0.060, 0.062, 0.065, 0.070]) for seed in (1, 2)]
    row = next(r for r in report.summarize(runs) if r["variant"] == "kd_random-nce")
    assert row["valid_by_stage"]["baseline_valid"] is None
    assert "| ml-100k | SASRec | kd_random-nce | 1, 2 | - | 0.0620 | - | 0.0700 | +12.9% | 2/2 |" in report.format_tables([row])
