"""benchmarks/teacher_check.py: one row per dataset x design x sample, earlier rows kept unless rechecked."""

import json

import pytest

from benchmarks import teacher_check


def row(dataset, source, lift):
    return {"dataset": dataset, "source": source, "users": 10, "ndcg@10": 0.02, "ndcg@10_shuffled": 0.01,
            "lift": lift, "lift_ci95": [lift - 0.5, lift + 0.5], "verdict": "signal: ...",
            "lift_interaction_knn": 3.0}


@pytest.mark.parametrize("checked, expected", [
    # a new source of a dataset already in the table: the dataset's other rows stay
    ([row("beauty", "llm", 1.3)], [("beauty", "llm", 1.3), ("beauty", "metadata", 3.9), ("beauty", "random", 1.0),
                                   ("ml-100k", "llm", 1.1)]),
    # a recheck replaces its own row only
    ([row("ml-100k", "llm", 1.2)], [("beauty", "metadata", 3.9), ("beauty", "random", 1.0), ("ml-100k", "llm", 1.2)]),
    # nothing checked (every source skipped): the table is unchanged
    ([], [("beauty", "metadata", 3.9), ("beauty", "random", 1.0), ("ml-100k", "llm", 1.1)]),
])
def test_merge_keeps_the_rows_it_did_not_recheck(checked, expected):
    previous = [row("ml-100k", "llm", 1.1), row("beauty", "random", 1.0), row("beauty", "metadata", 3.9)]
    merged = teacher_check.merge_rows(previous, checked)
    assert [(r["dataset"], r["source"], r["lift"]) for r in merged] == expected


@pytest.mark.slow
def test_checking_one_source_rewrites_its_row_and_keeps_the_others(tmp_path, monkeypatch):
    """A real check of ml-100k's genre-share profiles beside an earlier table of other rows."""
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    earlier = [row("beauty", "metadata", 3.9), row("ml-100k", "llm", 1.1), row("ml-100k", "metadata", 99.0)]
    (results / "teacher_check.json").write_text(json.dumps(earlier))
    teacher_check.main(["--datasets", "ml-100k", "--designs", "metadata", "--permutations", "2",
                        "--work", str(tmp_path / "work"), "--results", str(results)])
    rows = json.loads((results / "teacher_check.json").read_text())
    assert [(r["dataset"], r["source"]) for r in rows] == [("beauty", "metadata"), ("ml-100k", "llm"),
                                                            ("ml-100k", "metadata")]
    fresh = rows[2]
    assert fresh["users"] == 943 and fresh["lift"] != 99.0 and fresh["lift"] > 1.0
    assert fresh["design"] == "metadata" and fresh["sample_users"] is None
    assert set(fresh["complementarity"]) >= {"weight", "change", "change_ci95"}
    assert fresh["command"] == "python benchmarks/teacher_check.py --datasets ml-100k --designs metadata"
    table = (results / "teacher_check.md").read_text().splitlines()
    assert table[2].startswith("| beauty | metadata | 10 | 0.0200 | 0.0100 | 3.90 (3.40-4.40) | signal | - | - | - | "
                               "not measured |")
    assert table[4].startswith("| ml-100k | metadata | 943 |") and any(line.startswith("* `states-last`: SmolLM2 hidden state") for line in table)


def test_sample_rows_are_their_own_rows():
    previous = [row("beauty", "llm", 1.3)]
    sampled = {**row("beauty", "llm", 1.5), "design": "llm", "sample_users": 2000}
    merged = teacher_check.merge_rows(previous, [sampled])
    assert [(r["lift"], r.get("sample_users")) for r in merged] == [(1.3, None), (1.5, 2000)]


def test_cut_to_first_users_keeps_the_pipelines_order(tmp_path):
    source = tmp_path / "all.user"
    source.write_text("user_id:token\tprofile_emb:float_seq\n10\t1 2\nB\t3 4\n2\t5 6\nA\t7 8\n")
    out = teacher_check.cut_to_first_users(str(source), 3, str(tmp_path / "s" / "cut.user"))
    assert open(out).read() == "user_id:token\tprofile_emb:float_seq\n2\t5 6\n10\t1 2\nA\t7 8\n"


def blended(dataset, design, lift, change, ci, shuffled=0.0, sample=None):
    r = row(dataset, design, lift)
    r.update(design=design, sample_users=sample, complementarity={"change": change, "change_ci95": list(ci), "weight": 0.3},
             complementarity_shuffled={"change": shuffled})
    return r


@pytest.mark.parametrize("candidate, ok", [
    (blended("ml-100k", "states-mid-mean", 1.5, 0.04, (0.01, 0.07)), True),
    (blended("ml-100k", "states-mid-mean", 1.3, 0.04, (0.01, 0.07)), False),   # lift below the genre text's 1.4
    (blended("ml-100k", "states-mid-mean", 1.5, 0.04, (-0.01, 0.09)), False),  # interval includes 0
    (blended("ml-100k", "states-mid-mean", 1.5, 0.04, (0.01, 0.07), shuffled=0.05), False),  # shuffled does better
    (blended("ml-100k", "itemmean", 2.0, 0.04, (0.01, 0.07)), False),          # not LLM-based
])
def test_ranking_marks_what_the_rule_qualifies(candidate, ok):
    category = blended("ml-100k", "metadata", 1.4, 0.08, (0.02, 0.12))
    ranked = teacher_check.ranked_groups([candidate, category])[("ml-100k", None)]
    assert [(teacher_check.row_key(r)[1], q) for r, q in ranked] == [
        ("metadata", False), (teacher_check.row_key(candidate)[1], ok)]  # ranked by complementarity


def test_ships_only_what_qualifies_on_both_datasets():
    rows = [blended("ml-100k", "metadata", 1.4, 0.0, (-0.01, 0.01)),
            blended("beauty", "metadata", 2.0, 0.0, (-0.01, 0.01), sample=2000),
            blended("ml-100k", "items-mean", 1.5, 0.05, (0.01, 0.09)),
            blended("beauty", "items-mean", 2.5, 0.02, (0.01, 0.03), sample=2000),
            blended("ml-100k", "states-mean", 1.6, 0.09, (0.02, 0.15)),          # qualifies on ml-100k only
            blended("beauty", "states-mean", 2.5, 0.03, (-0.01, 0.07), sample=2000)]
    assert teacher_check.shipped_design(rows) == "items-mean"
    assert teacher_check.shipped_design(rows[:2] + rows[4:]) is None
    text = "\n".join(teacher_check.format_ranking(rows))
    assert "| 1 | states-mean | yes | +9.0% (+2.0% to +15.0%) | +0.0% | 1.60 | yes |" in text
    assert text.endswith("Shipped by the rule (qualifies on ml-100k (all users), beauty (first 2000 users)): `items-mean`")
