"""benchmarks/attribution_decision.py: the pre-registered decisions on hand-made validation numbers,
and the file it writes from run JSONs on disk."""

import json
import os

import pytest

from benchmarks import attribution_decision as decision
from tests.benchmarks.test_report import run

ML_B4R, BEAUTY_SAS, BEAUTY_B4R = decision.CELLS
BASE = {1: 0.050, 2: 0.060, 3: 0.070}


def cell_runs(**changes):
    """``{variant: {seed: run}}`` of one cell: the baseline at BASE, each variant the baseline times
    (1 + change) at every seed, or at each seed for a ``{seed: change}`` (keyword ``kd_random=0.02``
    -> variant ``kd_random-nce``)."""
    out = {"baseline": {s: run("baseline", s, [0.05] * 4, valid=v) for s, v in BASE.items()}}
    for name, change in changes.items():
        variant = f"{name}-nce"
        per_seed = change if isinstance(change, dict) else dict.fromkeys(BASE, change)
        out[variant] = {s: run(variant, s, [0.05] * 4, valid=BASE[s] * (1 + c)) for s, c in per_seed.items()}
    return out


def test_the_single_stage_wins_only_above_two_stages_on_two_cells():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.03),
              BEAUTY_SAS: cell_runs(kd_random=0.01, kd_random_single=0.015)}
    got = decision.decide_stages(groups)
    assert got.outcome == "kd_stages becomes 1" and not got.waiting_for
    assert "ml-100k BERT4Rec 0.0618 > 0.0612" in got.reason  # 0.06 * 1.03 against 0.06 * 1.02


def test_one_cell_where_the_single_stage_loses_settles_it_early():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.01)}
    got = decision.decide_stages(groups)
    assert got.outcome == "kd_stages stays 2" and "one stage 0.0606 ≤ two stages 0.0612" in got.reason


def test_one_winning_cell_waits_for_the_second_and_names_the_missing_runs():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.03), BEAUTY_SAS: cell_runs(kd_random=0.01)}
    got = decision.decide_stages(groups)
    assert got.outcome is None
    assert got.waiting_for == [f"beauty SASRec kd_random_single-nce seed {s}" for s in (1, 2, 3)]
    # a missing screening seed counts as missing, whatever the others say
    del groups[ML_B4R]["kd_random_single-nce"][3]
    assert "ml-100k BERT4Rec kd_random_single-nce seed 3" in decision.decide_stages(groups).waiting_for


@pytest.mark.parametrize("schedule, outcome", [(0.011, "yes"), (0.009, "no")])
def test_the_schedule_explains_the_gain_at_half_the_random_targets_on_every_cell(schedule, outcome):
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_schedule=0.015),
              BEAUTY_SAS: cell_runs(kd_random=0.02, kd_schedule=schedule),
              BEAUTY_B4R: cell_runs(kd_random=0.10, kd_schedule=0.06)}
    got = decision.decide_fair_baseline(groups)
    assert got.outcome.startswith(outcome) and not got.waiting_for
    if outcome == "no":
        assert "beauty SASRec: schedule-only Δvalid +0.9% < half of random target's +2.0%" in got.reason


def test_the_fair_baseline_waits_for_every_cell():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_schedule=0.015), BEAUTY_SAS: cell_runs(kd_random=0.02)}
    got = decision.decide_fair_baseline(groups)
    assert got.outcome is None and "ml-100k BERT4Rec: schedule-only Δvalid +1.5% ≥ half of random target's +2.0%" in got.reason
    assert got.waiting_for[:3] == [f"beauty SASRec kd_schedule-nce seed {s}" for s in (1, 2, 3)]
    assert "beauty BERT4Rec (converged_b256) baseline seed 1" in got.waiting_for


@pytest.mark.parametrize("teacher, outcome", [(0.03, "yes"), (0.02, "no"), (0.01, "no")])
def test_the_beauty_teacher_must_beat_random_vectors_and_the_schedule(teacher, outcome):
    groups = {BEAUTY_SAS: cell_runs(kd_random=0.02, kd_schedule=0.0, kd_llmitems=teacher)}
    assert decision.decide_teacher(groups).outcome.startswith(outcome)
    del groups[BEAUTY_SAS]["kd_llmitems-nce"]
    assert decision.decide_teacher(groups).waiting_for == [f"beauty SASRec kd_llmitems-nce seed {s}" for s in (1, 2, 3)]


def test_main_reads_the_run_files_and_writes_the_decisions(tmp_path):
    write_runs(tmp_path, {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.01)})
    decision.main(["--results", str(tmp_path)])
    text = (tmp_path / "converged" / "attribution_decision.md").read_text()
    assert "| ml-100k BERT4Rec | kd_random_single-nce | 1, 2, 3 | unrecorded | 0.0606 | +1.0% |" in text
    assert "**kd_stages stays 2**" in text
    assert "recommend the items-mean teacher (kd_llmitems) for Beauty? Not decided yet" in text


def test_equal_stages_keep_two_and_a_started_third_cell_is_awaited():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.02)}
    assert decision.decide_stages(groups).outcome == "kd_stages stays 2"
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.03),
              BEAUTY_SAS: cell_runs(kd_random=0.01, kd_random_single=0.015),
              BEAUTY_B4R: cell_runs(kd_random=0.1, kd_random_single={1: 0.2})}
    got = decision.decide_stages(groups)
    assert got.outcome is None and got.waiting_for == [
        f"beauty BERT4Rec (converged_b256) kd_random_single-nce seed {s}" for s in (2, 3)]


def test_any_cell_with_both_variants_counts_for_the_stages():
    other = ("converged", "ml-100k", "SASRec")
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.03),
              BEAUTY_SAS: cell_runs(kd_random=0.01, kd_random_single=0.015),
              other: cell_runs(kd_random=0.0, kd_random_single=-0.05)}
    got = decision.decide_stages(groups)
    assert got.outcome == "kd_stages stays 2" and got.reason.startswith("ml-100k SASRec")


def test_means_read_the_screening_seeds_only_and_average_per_seed_changes():
    # per-seed changes +6% and -3%, -3%: the mean of the ratios is 0.0, the ratio of the means is not
    groups = {ML_B4R: cell_runs(kd_random={1: 0.06, 2: -0.03, 3: -0.03}, kd_schedule=0.0)}
    assert decision.delta_valid(groups, ML_B4R, "kd_random-nce") == pytest.approx(0.0)
    # seeds 4-5 (confirmatory) would flip the teacher decision if they were read
    groups = {BEAUTY_SAS: cell_runs(kd_random=0.02, kd_schedule=0.0, kd_llmitems=0.03)}
    for seed in (4, 5):
        groups[BEAUTY_SAS]["kd_llmitems-nce"][seed] = run("kd_llmitems-nce", seed, [0.05] * 4, valid=0.001)
    assert decision.decide_teacher(groups).outcome.startswith("yes")


def test_the_teacher_must_beat_the_schedule_too():
    groups = {BEAUTY_SAS: cell_runs(kd_random=0.01, kd_schedule=0.03, kd_llmitems=0.02)}
    got = decision.decide_teacher(groups)
    assert got.outcome.startswith("no") and "items-mean 0.0612, kd_random-nce 0.0606, kd_schedule-nce 0.0618" in got.reason


def test_a_cell_where_the_random_target_gains_nothing_is_named():
    groups = {ML_B4R: cell_runs(kd_random=-0.02, kd_schedule=-0.01),
              BEAUTY_SAS: cell_runs(kd_random=0.02, kd_schedule=0.01),  # exactly half: holds
              BEAUTY_B4R: cell_runs(kd_random=0.10, kd_schedule=0.06)}
    got = decision.decide_fair_baseline(groups)
    assert got.outcome.startswith("yes")
    assert "ml-100k BERT4Rec: schedule-only Δvalid -1.0% ≥ half of random target's -2.0% (the random target gains nothing" in got.reason


def test_runs_of_different_commits_are_named_in_the_reason():
    groups = {ML_B4R: cell_runs(kd_random=0.02, kd_random_single=0.01)}
    for r in groups[ML_B4R]["kd_random_single-nce"].values():
        r["git_commit"] = "89dba3cf26ca0000"
    got = decision.decide_stages(groups)
    assert got.reason.endswith("(across commits: kd_random_single-nce 89dba3cf26ca; kd_random-nce unrecorded)")


def write_runs(results, groups):
    for (budget, dataset, model), variants in groups.items():
        for variant, runs in variants.items():
            for seed, r in runs.items():
                r["cell"].update(dataset=dataset, model=model)
                path = results / "runs" / budget / dataset / model / variant / f"seed{seed}.json"
                os.makedirs(path.parent, exist_ok=True)
                path.write_text(json.dumps({k: v for k, v in r.items() if k != "path"}))


def test_no_runs_and_mixed_commits_are_errors(tmp_path):
    with pytest.raises(SystemExit, match="cannot decide: no runs of baseline"):
        decision.main(["--results", str(tmp_path)])
    groups = {ML_B4R: cell_runs(kd_random=0.02)}
    groups[ML_B4R]["kd_random-nce"][2]["git_commit"] = "abc"
    write_runs(tmp_path, groups)
    with pytest.raises(SystemExit, match="different commits .*rerun the odd seeds from one commit toward one profile file"
                                         ".*kd_random-nce: abc \\(seeds 2\\), unrecorded \\(seeds 1, 3\\)"):
        decision.main(["--results", str(tmp_path)])
