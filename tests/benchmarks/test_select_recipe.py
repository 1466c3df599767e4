"""benchmarks/select_recipe.py: the pre-registered rule on hand-made validation numbers."""

import json

import pytest

from benchmarks import select_recipe
from tests.benchmarks.test_report import run

BASE_VALID = {1: 0.050, 2: 0.060, 3: 0.070}


def runs_with(changes):
    """Runs whose best validation NDCG@10 is the baseline's times (1 + change), per variant and seed;
    ``changes``: variant -> {seed: change}."""
    out = [run("baseline", s, [0.05] * 12, valid=v) for s, v in BASE_VALID.items()]
    for variant, per_seed in changes.items():
        out += [run(variant, s, [0.05] * 12, valid=BASE_VALID[s] * (1 + c)) for s, c in per_seed.items()]
    return out


def recipe_changes(recipe, llm, metadata, itemmean, random):
    """Every seed of a source gets the same change, so the mean over seeds is that change."""
    sources = {"kd": llm, "kd_metadata": metadata, "kd_itemmean": itemmean, "kd_random": random}
    return {f"{v}-{recipe}": {s: c for s in BASE_VALID} for v, c in sources.items()}


def select(changes, signal=("metadata", "itemmean"), **kwargs):
    groups = select_recipe.group(runs_with(changes))
    cands = select_recipe.candidates(groups, "ml-100k", "SASRec", ["reg", "nce"], list(select_recipe.SOURCES),
                                     [1, 2, 3], list(signal))
    return cands, select_recipe.choose(cands, **kwargs)


def test_changes_are_per_seed_relative_changes_averaged_over_seeds():
    changes = {**recipe_changes("reg", 0.0, 0.0, 0.0, 0.0), **recipe_changes("nce", 0.0, 0.0, 0.0, 0.0)}
    changes["kd-reg"] = {1: 0.10, 2: -0.02, 3: 0.04}
    cands, _ = select(changes)
    assert cands[0].changes["llm"] == pytest.approx(0.04)
    assert cands[0].worst == pytest.approx(0.0) and cands[0].signal_mean == pytest.approx(0.0)


def test_the_highest_worst_source_wins_outside_the_tie():
    changes = {**recipe_changes("reg", 0.05, 0.06, 0.07, -0.03), **recipe_changes("nce", 0.0, 0.01, 0.02, -0.005)}
    cands, (chosen, reason) = select(changes)
    assert chosen == "nce" and "-0.5%, random" in reason
    assert cands[0].worst_source == "random" and cands[0].worst == pytest.approx(-0.03)


def test_within_the_tie_the_mean_over_signal_sources_decides():
    changes = {**recipe_changes("reg", 0.03, 0.04, 0.005, 0.05), **recipe_changes("nce", 0.0, 0.06, 0.08, 0.003)}
    cands, (chosen, reason) = select(changes)
    assert chosen == "nce" and "+7.0%" in reason
    assert cands[0].signal_mean == pytest.approx(0.0225)
    # with the LLM counted as a source with signal, the means are 2.5% and 4.67%: still nce
    _, (chosen, _) = select(changes, signal=("llm", "metadata", "itemmean"))
    assert chosen == "nce"


def test_nothing_is_chosen_when_every_candidate_hurts_somewhere():
    changes = {**recipe_changes("reg", 0.0, 0.0, -0.03, 0.0), **recipe_changes("nce", -0.025, 0.0, 0.0, 0.0)}
    _, (chosen, reason) = select(changes)
    assert chosen is None and "second round" in reason


def test_a_missing_seed_is_an_error_naming_the_cell():
    changes = {**recipe_changes("reg", 0.0, 0.0, 0.0, 0.0), **recipe_changes("nce", 0.0, 0.0, 0.0, 0.0)}
    del changes["kd_random-nce"][3]
    with pytest.raises(select_recipe.SelectionError, match=r"ml-100k SASRec kd_random-nce: no run for seed\(s\) \[3\]"):
        select(changes)


def test_signal_sources_need_the_whole_interval_above_one():
    check = [{"dataset": "ml-100k", "source": "llm", "lift_ci95": [0.95, 1.27]},
             {"dataset": "ml-100k", "source": "metadata", "lift_ci95": [1.15, 1.67]},
             {"dataset": "beauty", "source": "random", "lift_ci95": [1.01, 1.2]}]
    assert select_recipe.signal_sources(check, "ml-100k") == ["metadata"]


def test_main_writes_the_table_and_the_choice(tmp_path):
    changes = {**recipe_changes("reg", 0.01, 0.02, 0.03, 0.04), **recipe_changes("nce", 0.02, 0.03, 0.04, 0.05)}
    for r in runs_with(changes):
        cell = r["cell"]
        path = tmp_path / "runs" / "converged" / cell["dataset"] / cell["model"] / cell["variant"] / f"seed{cell['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    (tmp_path / "teacher_check.json").write_text(json.dumps([{"dataset": "ml-100k", "source": "metadata",
                                                              "lift_ci95": [1.1, 1.5]}]))
    select_recipe.main(["--results", str(tmp_path), "--budget", "converged"])
    text = (tmp_path / "converged" / "selection.md").read_text()
    assert "| reg | +1.0% | +2.0% | +3.0% | +4.0% | +1.0% (llm) | +2.0% |" in text
    assert "| nce | +2.0% | +3.0% | +4.0% | +5.0% | +2.0% (llm) | +3.0% |" in text
    assert "Chosen: **nce** (worst sources of reg, nce within 1% of each other" in text


def test_main_refuses_an_unfinished_screen(tmp_path):
    (tmp_path / "teacher_check.json").write_text("[]")
    with pytest.raises(SystemExit, match="cannot choose yet: ml-100k SASRec kd-reg: no run"):
        select_recipe.main(["--results", str(tmp_path)])


def test_signal_sources_are_the_grids_sources_checked_on_every_user():
    rows = [{"dataset": "ml-100k", "source": "metadata", "lift_ci95": [1.1, 1.7]},                     # before designs
            {"dataset": "ml-100k", "source": "itemmean", "design": "itemmean", "lift_ci95": [1.5, 2.3]},
            {"dataset": "ml-100k", "source": "llm_item_mean", "design": "items-mean", "lift_ci95": [1.2, 1.9]},
            {"dataset": "ml-100k", "source": "llm", "design": "llm", "sample_users": 500, "lift_ci95": [1.1, 1.3]},
            {"dataset": "ml-100k", "source": "random", "design": "random", "lift_ci95": [0.8, 1.1]},
            {"dataset": "beauty", "source": "llm", "design": "llm", "lift_ci95": [1.1, 1.5]}]
    assert select_recipe.signal_sources(rows, "ml-100k") == ["metadata", "itemmean"]
