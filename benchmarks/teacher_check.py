"""The teacher check over teacher designs: does each profile file carry signal about its users'
held-out (validation) items, and does it add to what the interactions say? See
``recbole_llmkd.profiles.check`` (lift and complementarity).

    python benchmarks/teacher_check.py --datasets ml-100k beauty
    python benchmarks/teacher_check.py --datasets beauty --designs states-last items-mean --sample-users 2000

Designs (:data:`DESIGNS`): the grid's profile sources (``llm``: the shipped generated SmolLM2
profiles; ``metadata``; ``itemmean``; ``random``), built the way the grid builds them
(``benchmarks/grid.py``), and the LLM's own hidden states (``states-*``: over the user's history
prompt; ``items-*``: over each training item's text, averaged per user;
:mod:`recbole_llmkd.profiles.llm_states`), reduced to 32 dims by UMAP like the others. Files are
cached under ``--work``. ``--sample-users N`` checks within the first N users (by user id, as the
pipeline's ``limit_users`` takes them): the hidden-state designs are built for those users only,
the other designs' files are cut to them. Writes ``results/teacher_check.json`` and
``results/teacher_check.md`` (one row per dataset × design × sample; rows not checked this time are kept).
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.grid import DATASETS, GridError, build_profile_file, ensure_source, profile_option_files  # noqa: E402


def design_file_options(grid_source):
    """``(pipeline source, options)`` from the design file the grid's ``grid_source`` reads
    (``benchmarks.grid.PROFILE_OPTION_FILES``): the design the check measures and the target the
    grid trains toward are one definition."""
    import yaml

    (path,) = profile_option_files(grid_source)
    with open(path, encoding="utf-8") as f:
        options = yaml.safe_load(f)
    return options.pop("source"), options


SMOLLM2_MID_LAYER = 15  # of SmolLM2-135M's 30 blocks
# the history prompts the states-* designs read: the 10 most recent training items, not the 30 the
# generated profiles read (ml-100k: about 760 prompt tokens a user with 30, 352 with 10, the mean the
# run's summary records): prefill cost grows with the prompt, and a CPU screen has to fit beside training
STATES_WINDOW = {"max_items": 10}
# name -> (pipeline source, its options, what it is); the first four are the grid's sources
DESIGNS = {
    "llm": ("llm", {}, "generated profiles (shipped SmolLM2-135M texts), MiniLM, UMAP 32"),
    "metadata": ("metadata", {}, "genre/category text of the training items, MiniLM, UMAP 32 (no LLM)"),
    "itemmean": ("item_mean", {}, "mean MiniLM embedding of the training items' texts, UMAP 32 (no LLM)"),
    "random": ("random", {}, "a fixed N(0, 1) vector per user (the control)"),
    "states-last": ("llm_states", {"state_layer": -1, "state_pooling": "last", **STATES_WINDOW},
                    "SmolLM2 hidden state at the last token of the history prompt (10 most recent items), last block, UMAP 32"),
    "states-mean": ("llm_states", {"state_layer": -1, "state_pooling": "mean", **STATES_WINDOW},
                    "SmolLM2 hidden states over the history prompt (10 most recent items), mean, last block, UMAP 32"),
    "states-mid-last": ("llm_states", {"state_layer": SMOLLM2_MID_LAYER, "state_pooling": "last", **STATES_WINDOW},
                        "SmolLM2 hidden state at the last token of the history prompt (10 most recent items), block 15 of 30, UMAP 32"),
    "states-mid-mean": ("llm_states", {"state_layer": SMOLLM2_MID_LAYER, "state_pooling": "mean", **STATES_WINDOW},
                        "SmolLM2 hidden states over the history prompt (10 most recent items), mean, block 15 of 30, UMAP 32"),
    "items-mean": (*design_file_options("llmitems"),  # properties/profiles/designs/items-mean.yaml
                   "SmolLM2 hidden states over each training item's text (mean, last block), averaged per user, UMAP 32"),
    "items-mid-mean": ("llm_item_mean", {"state_layer": SMOLLM2_MID_LAYER, "state_pooling": "mean"},
                       "SmolLM2 hidden states over each training item's text (mean, block 15), averaged per user, UMAP 32"),
}
GRID_SOURCES = ("llm", "metadata", "itemmean", "random")  # the designs benchmarks/grid.py builds, by its own names
STATE_SOURCES = ("llm_states", "llm_item_mean")
# the designs an LLM makes: its generated profiles and its hidden states
LLM_DESIGNS = tuple(name for name, (source, _, _) in DESIGNS.items() if source == "llm" or source in STATE_SOURCES)
# results/teacher_rule.md: the users each dataset's candidates are read on (None: all users)
RULE_USERS = {"ml-100k": None, "beauty": 2000}


def design_file(work, dataset, design, data_path, allow_generate=False, sample_users=None, reader=None):
    """The ``.user`` file of ``design`` (built once, cached under ``work``), cut to the first
    ``sample_users`` users when given. ``reader``: a shared
    :class:`~recbole_llmkd.profiles.llm_states.StateReader` (one forward pass a text for every
    hidden-state design of the run)."""
    from recbole_llmkd.profiles.config import load_config

    source, options, _ = DESIGNS[design]
    spec = DATASETS[dataset]
    if source not in STATE_SOURCES:
        user_file = build_profile_file(work, dataset, design, data_path, allow_generate)
        return user_file if sample_users is None else cut_to_first_users(
            user_file, sample_users, os.path.join(work, dataset, f"sample{sample_users}", f"{design}.user"))
    out = os.path.join(work, dataset, design if sample_users is None else f"{design}-sample{sample_users}")
    config = load_config([], dataset=spec.source, data_path=data_path, output_dir=out, source=source,
                         limit_users=sample_users, **options)
    if not os.path.exists(config.user_path):
        from recbole_llmkd.profiles.cli import run_step
        from recbole_llmkd.profiles.llm_states import load_state_encoder, run_llm_item_mean, run_llm_states

        encoder = load_state_encoder(config, reader)
        run = run_llm_states if source == "llm_states" else run_llm_item_mean
        print(f"[{design}] " + json.dumps(run(config, encoder=encoder, progress=False)), flush=True)
        run_step("reduce", config)
        run_step("write", config)
    return config.user_path


def cut_to_first_users(user_file, n, out):
    """A copy of ``user_file`` with the first ``n`` users by id (the pipeline's ``limit_users`` order)."""
    from recbole_llmkd.formats.files import write_text_atomic
    from recbole_llmkd.profiles.history import user_sort_key

    with open(user_file, encoding="utf-8") as f:
        header, *lines = f.read().splitlines()
    lines = sorted(lines, key=lambda line: user_sort_key(line.split("\t", 1)[0]))[:n]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    return write_text_atomic(out, "\n".join([header, *lines]) + "\n")


def check_design(work, dataset, design, neighbours, permutations, allow_generate=False, sample_users=None,
                 reader=None):
    from recbole_llmkd.profiles.check import check_profiles
    from recbole_llmkd.profiles.config import load_config

    spec = DATASETS[dataset]
    if spec.temporal:
        raise GridError(f"{dataset}: the check supports leave-one-out datasets only")
    data_path = ensure_source(dataset)
    user_file = design_file(work, dataset, design, data_path, allow_generate, sample_users, reader)
    config = load_config([], dataset=spec.source, data_path=data_path)
    return check_profiles(config, user_file, neighbours=neighbours, permutations=permutations)


def row_key(row):
    """A row's identity: dataset, design (rows written before designs existed: their source), sample."""
    return row["dataset"], row.get("design", row["source"]), row.get("sample_users")


def format_rows(rows):
    lines = ["| dataset | design | users | kNN NDCG@10 (valid) | shuffled | lift (95% CI) | verdict | "
             "complementarity (95% CI) | w | shuffled profiles' | complementarity verdict | interaction kNN lift |",
             "|---|---|---:|---:|---:|---|---|---|---:|---:|---|---:|"]
    for row in rows:
        low, high = row["lift_ci95"]
        design = row.get("design", row["source"])
        blend = row.get("complementarity")
        if blend:
            b_low, b_high = blend["change_ci95"]
            blend_cells = (f"{blend['change']:+.1%} ({b_low:+.1%} to {b_high:+.1%}) | {blend['weight']:g} | "
                           f"{row['complementarity_shuffled']['change']:+.1%} | "
                           f"{row['complementarity_verdict'].split(':')[0]}")
        else:
            blend_cells = "- | - | - | not measured"
        lines.append(f"| {row['dataset']} | {design} | {row['users']} | {row['ndcg@10']:.4f} | "
                     f"{row['ndcg@10_shuffled']:.4f} | {row['lift']:.2f} ({low:.2f}-{high:.2f}) | "
                     f"{row['verdict'].split(':')[0]} | {blend_cells} | {row['lift_interaction_knn']:.2f} |")
    lines += format_ranking(rows)
    lines += ["", "Designs:", ""] + [f"* `{name}`: {text}" for name, (_, _, text) in DESIGNS.items()]
    return "\n".join(lines) + "\n"


def qualifies(row, category_lift):
    """``results/teacher_rule.md``: complementarity above 0 (its interval too) and above the shuffled
    profiles', and a lift at least the category/genre text's on the same users."""
    blend = row.get("complementarity")
    if not blend or category_lift is None:
        return False
    return (blend["change"] > 0 and blend["change_ci95"][0] > 0
            and blend["change"] > row["complementarity_shuffled"]["change"] and row["lift"] >= category_lift)


def ranked_groups(rows):
    """``{(dataset, sample_users): [(row, qualifies), ...]}``, each group's rows with a complementarity
    ranked by it (ties by lift), best first."""
    groups = {}
    for row in rows:
        if row.get("complementarity"):
            groups.setdefault((row["dataset"], row.get("sample_users")), []).append(row)
    ranked = {}
    for key, group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        category = next((r["lift"] for r in group if row_key(r)[1] == "metadata"), None)
        group = sorted(group, key=lambda r: (-r["complementarity"]["change"], -r["lift"]))
        ranked[key] = [(r, row_key(r)[1] in LLM_DESIGNS and qualifies(r, category)) for r in group]
    return ranked


def shipped_design(rows):
    """The design the rule ships (qualifies on every dataset of :data:`RULE_USERS`, the highest of its
    smaller complementarity, ties by its smaller lift), or None."""
    ranked = ranked_groups(rows)
    per_dataset = [{row_key(r)[1]: r for r, ok in ranked.get((d, n), []) if ok} for d, n in RULE_USERS.items()]
    both = set.intersection(*(set(q) for q in per_dataset))
    if not both:
        return None
    return max(sorted(both), key=lambda d: (min(q[d]["complementarity"]["change"] for q in per_dataset),
                                             min(q[d]["lift"] for q in per_dataset)))


def format_ranking(rows):
    """Per dataset and users checked: the designs ranked by complementarity (ties by lift), which are
    LLM-based, which qualify by ``results/teacher_rule.md``; then what the rule ships."""
    lines = ["", "Ranked by complementarity, ties by lift (the rule: [`teacher_rule.md`](teacher_rule.md); "
                 "qualifies = an LLM-based design with complementarity and its interval above 0, above its "
                 "shuffled profiles', and a lift at least the category/genre text's on the same users):"]
    for (dataset, sample), group in ranked_groups(rows).items():
        users = f"first {sample} users" if sample else "all users"
        lines += ["", f"{dataset}, {users}:", "", "| rank | design | LLM-based | complementarity (95% CI) | shuffled profiles' | lift | qualifies |",
                  "|---:|---|---|---|---:|---:|---|"]
        for rank, (row, ok) in enumerate(group, 1):
            design, blend = row_key(row)[1], row["complementarity"]
            low, high = blend["change_ci95"]
            lines.append(f"| {rank} | {design} | {'yes' if design in LLM_DESIGNS else 'no'} | "
                         f"{blend['change']:+.1%} ({low:+.1%} to {high:+.1%}) | "
                         f"{row['complementarity_shuffled']['change']:+.1%} | {row['lift']:.2f} | {'yes' if ok else 'no'} |")
    ship = shipped_design(rows)
    checked = ", ".join(f"{d} ({'all users' if n is None else f'first {n} users'})" for d, n in RULE_USERS.items())
    lines += ["", f"Shipped by the rule (qualifies on {checked}): " + (f"`{ship}`" if ship else "none")]
    return lines


def merge_rows(previous, checked):
    """The table's rows: this run's, and every earlier row of a dataset x design x sample it did not
    check (a design skipped this time keeps its earlier row), sorted by dataset, sample, then design."""
    done = {row_key(r) for r in checked}
    rows = [r for r in previous if row_key(r) not in done] + list(checked)
    order = list(DESIGNS)
    return sorted(rows, key=lambda r: (r["dataset"], r.get("sample_users") or 0,
                                       order.index(row_key(r)[1]) if row_key(r)[1] in order else len(order)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"], choices=sorted(DATASETS), help="datasets to check")
    parser.add_argument("--designs", "--sources", nargs="+", default=list(GRID_SOURCES), choices=list(DESIGNS),
                        help="teacher designs to check (default: the grid's four profile sources)")
    parser.add_argument("--sample-users", type=int, default=None,
                        help="check within the first N users by id (the hidden-state designs are built for them only)")
    parser.add_argument("--neighbours", type=int, default=50, help="profile-space neighbours per user")
    parser.add_argument("--permutations", type=int, default=10, help="shuffles of the profiles across users (the chance level)")
    parser.add_argument("--work", default=os.path.join("output", "grid"), help="where the grid keeps the profile files")
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="where teacher_check.md/.json go")
    parser.add_argument("--allow-generate", action="store_true", help="run the LLM where profiles are not shipped")
    args = parser.parse_args(argv)
    from recbole_llmkd.formats.files import write_text_atomic

    path = os.path.join(args.results, "teacher_check.json")
    previous = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    rows = []
    reader = None
    if any(DESIGNS[d][0] in STATE_SOURCES for d in args.designs):
        from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend
        from recbole_llmkd.profiles.llm_states import StateReader

        layers = sorted({DESIGNS[d][1]["state_layer"] for d in args.designs if DESIGNS[d][0] in STATE_SOURCES})
        reader = StateReader(TransformersBackend(), layers)  # the pipeline's default model: the packaged SmolLM2
    for dataset in args.datasets:
        for design in args.designs:
            try:
                result = check_design(args.work, dataset, design, args.neighbours, args.permutations,
                                      args.allow_generate, args.sample_users, reader)
            except GridError as err:
                print(f"{dataset} {design}: skipped: {err}", file=sys.stderr)
                continue
            result["user_file"] = os.path.relpath(result["user_file"])
            sample = f" --sample-users {args.sample_users}" if args.sample_users else ""
            # source: the grid's name for its four sources (what select_recipe.py reads), else the pipeline's
            rows.append({"dataset": dataset, "source": design if design in GRID_SOURCES else DESIGNS[design][0],
                         "design": design,
                         "design_description": DESIGNS[design][2], **result, "sample_users": args.sample_users,
                         "command": f"python benchmarks/teacher_check.py --datasets {dataset} --designs {design}{sample}"})
            print(f"{dataset} {design}: lift {result['lift']:.2f} {result['lift_ci95']}, complementarity "
                  f"{result['complementarity']['change']:+.1%} {result['complementarity']['change_ci95']} "
                  f"({result['seconds']} s)", flush=True)
    rows = merge_rows(previous, rows)
    os.makedirs(args.results, exist_ok=True)
    write_text_atomic(path, json.dumps(rows, indent=2) + "\n")
    table = format_rows(rows)
    write_text_atomic(os.path.join(args.results, "teacher_check.md"), table)
    print(table)
    return rows


if __name__ == "__main__":
    main()
