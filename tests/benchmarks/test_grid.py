"""benchmarks/grid.py: the cells, the control profiles and a real (tiny) resumable grid."""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from benchmarks import grid, report, teacher_check
from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.integration.config_files import properties_dir

TINY_BUDGET = """epochs: 2
stopping_step: 2
MAX_ITEM_LIST_LENGTH: 10
hidden_size: 16
inner_size: 32
user_inter_num_interval: "[0,40]"
train_batch_size: 256
topk: [10, 20]
metrics: [Recall, NDCG]
valid_metric: NDCG@10
"""


def test_cells_are_seed_major():
    cells = grid.cells(["ml-100k"], ["SASRec"], ["baseline", "kd"], [1, 2])
    assert cells == [("ml-100k", "SASRec", "baseline", 1), ("ml-100k", "SASRec", "kd", 1),
                     ("ml-100k", "SASRec", "baseline", 2), ("ml-100k", "SASRec", "kd", 2)]


def test_budget_names_and_files(tmp_path):
    assert grid.budget_file("cpu").endswith(os.path.join("benchmarks", "budgets", "cpu.yaml"))
    assert grid.budget_name(str(tmp_path / "tiny.yaml")) == "tiny"
    with pytest.raises(grid.GridError, match="nope"):
        grid.budget_file("nope")


def test_a_budget_extends_another(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("epochs: 50\nfast_path: True\nMAX_ITEM_LIST_LENGTH: 20\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {base}\nfast_path: False\n")
    assert grid.budget_files(str(child)) == [str(base), str(child)]
    assert grid.budget_settings(str(child)) == {"epochs": 50, "fast_path": False, "MAX_ITEM_LIST_LENGTH": 20}
    assert grid.budget_files("fast_path_check") == [grid.budget_file("converged"), grid.budget_file("fast_path_check")]
    base.write_text(f"extends: {child}\n")
    with pytest.raises(grid.GridError, match="'extends' goes round in a circle"):
        grid.budget_files(str(child))


def test_the_batch_256_budget_is_the_converged_one_with_bert4recs_batch():
    converged, b256 = grid.budget_settings("converged"), grid.budget_settings("converged_b256")
    assert converged["train_batch_size"] == 2048 and b256["train_batch_size"] == 256
    assert {k: v for k, v in b256.items() if k != "train_batch_size"} == {
        k: v for k, v in converged.items() if k != "train_batch_size"}


@pytest.fixture
def sleeper():
    """A live process that is not this one, to own claims."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_claim(path, pid, host=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"pid": pid, "host": host or socket.gethostname(), "since": "2026-12-01 15:00:00"}, f)


def test_a_cell_is_claimed_once(tmp_path, sleeper):
    path = grid.claim_path(str(tmp_path), "converged", "beauty", "SASRec", "baseline", 2)
    assert path == str(tmp_path / "claims" / "converged" / "beauty" / "SASRec" / "baseline" / "seed2.claim")
    assert grid.take_claim(path) is None
    with open(path) as f:
        mine = json.load(f)
    assert (mine["pid"], mine["host"]) == (os.getpid(), socket.gethostname())
    assert grid.take_claim(path) == mine  # held by a live process (this one): not claimed twice
    write_claim(path, sleeper)
    assert grid.take_claim(path)["pid"] == sleeper
    assert grid.describe_owner(grid.claim_owner(path)) == f"pid {sleeper}, since 2026-12-01 15:00:00"


def test_a_dead_lanes_claim_is_taken_over(tmp_path):
    path = str(tmp_path / "seed1.claim")
    write_claim(path, dead_pid())
    assert grid.claim_owner(path) is None
    assert grid.take_claim(path) is None
    with open(path) as f:
        assert json.load(f)["pid"] == os.getpid()


def test_another_machines_claim_is_left_alone(tmp_path):
    path = str(tmp_path / "seed1.claim")
    write_claim(path, dead_pid(), host="gpu-box")  # its pid means nothing here: cannot tell it is dead
    owner = grid.take_claim(path)
    assert owner["host"] == "gpu-box"
    assert grid.describe_owner(owner).startswith(f"pid {owner['pid']} on gpu-box, since")


def test_claimed_cells_are_left_to_their_grid(tmp_path, sleeper, capsys):
    budget = tmp_path / "tiny.yaml"
    budget.write_text(TINY_BUDGET)
    argv = ["--budget", str(budget), "--variants", "baseline", "kd_random", "--seeds", "1",
            "--results", str(tmp_path / "results"), "--work", str(tmp_path / "work")]
    for variant in ("baseline", "kd_random"):
        write_claim(grid.claim_path(str(tmp_path / "work"), "tiny", "ml-100k", "SASRec", variant, 1), sleeper)
    assert grid.main(argv) == 0
    out = capsys.readouterr().out
    assert f"[1/2] running in pid {sleeper}, since 2026-12-01 15:00:00: left to it" in out
    assert f"[2/2] running in pid {sleeper}" in out
    assert not (tmp_path / "results").exists()
    assert grid.main(argv + ["--list"]) == 0
    assert (f"  [running in pid {sleeper}, since 2026-12-01 15:00:00] python benchmarks/grid.py --budget "
            f"{budget} --datasets ml-100k --models SASRec --variants kd_random --seeds 1") in capsys.readouterr().out


class FakeClock:
    """Stands in for the ``time`` module of a waiting grid: each ``sleep`` advances ``monotonic`` at
    once, and the other grid finishes after ``finish_after`` sleeps."""

    def __init__(self, finish_after, finish):
        self.now, self.sleeps, self.finish_after, self.finish = 1000.0, 0, finish_after, finish

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        if self.sleeps == self.finish_after:
            self.finish()

    def __getattr__(self, name):
        return getattr(time, name)


@pytest.mark.parametrize("sleeps, reports", [(1, []), (60, []), (61, [10]), (125, [10, 20])])
def test_a_profile_file_another_grid_is_building_is_waited_for(tmp_path, sleeper, monkeypatch, sleeps, reports):
    claim = tmp_path / "claims" / "profiles" / "ml-100k" / "random.claim"
    write_claim(str(claim), sleeper)
    user_file = tmp_path / "ml-100k" / "random" / "ml-100k.user"

    def other_grid_finishes():
        user_file.parent.mkdir(parents=True)
        user_file.write_text("user_id:token\tprofile_emb:float_seq\n1\t0.5 -0.5\n")
        claim.unlink()

    clock = FakeClock(sleeps, other_grid_finishes)
    monkeypatch.setattr(grid, "time", clock)
    logged = []
    assert grid.build_profile_file(str(tmp_path), "ml-100k", "random", log=logged.append) == str(user_file)
    assert clock.sleeps == sleeps  # looked every PROFILE_WAIT_SECONDS (10 s) until the file was there
    assert logged == [f"profiles (random): pid {sleeper}, since 2026-12-01 15:00:00 is building them; waiting"] + [
        f"profiles (random): still waiting, {minutes} min" for minutes in reports]  # every 10 minutes
    assert user_file.read_text().endswith("1\t0.5 -0.5\n")  # theirs, not built again
    assert not (tmp_path / "ml-100k" / "metadata").exists()


@pytest.mark.slow
def test_two_grids_over_the_same_cells_run_each_once(tmp_path):
    budget = tmp_path / "tiny.yaml"
    budget.write_text(TINY_BUDGET)
    argv = [sys.executable, os.path.join(grid.ROOT, "benchmarks", "grid.py"), "--budget", str(budget),
            "--variants", "baseline", "--seeds", "1", "2",
            "--results", str(tmp_path / "results"), "--work", str(tmp_path / "work")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lanes = [subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [lane.communicate(timeout=600)[0] for lane in lanes]
    assert [lane.returncode for lane in lanes] == [0, 0]
    started = [line for out in outs for line in out.splitlines() if "] python benchmarks/grid.py" in line]
    assert sorted(line.split()[-1] for line in started) == ["1", "2"]  # each seed started by one lane
    for seed in (1, 2):
        assert json.loads((tmp_path / "results" / "runs" / "tiny" / "ml-100k" / "SASRec" / "baseline"
                           / f"seed{seed}.json").read_text())["seed"] == seed
    assert os.listdir(tmp_path / "work" / "claims" / "tiny" / "ml-100k" / "SASRec" / "baseline") == []


@pytest.mark.slow
def test_llm_profiles_outside_the_shipped_cache_are_not_generated_silently(tmp_path):
    # the temporal split's profiles come from pre-cut histories: other prompts than the shipped ones
    with pytest.raises(grid.GridError, match=r"do not cover.*--cut-quantile 0.8.*--allow-generate"):
        grid.build_profile_file(str(tmp_path), "ml-100k-temporal", "llm")
    assert not os.path.exists(tmp_path / "ml-100k-temporal" / "llm" / "ml-100k-temporal.user")


def test_temporal_split_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    budget = tmp_path / "b.yaml"
    budget.write_text("MAX_ITEM_LIST_LENGTH: 7\n")
    config = grid.recbole_data_config("ml-100k-temporal", str(budget), log=lambda *_: None)
    assert config == {"data_path": os.path.join("output", "data", "len7"),
                      "benchmark_filename": ["train", "valid", "test"], "load_col": None}
    folder = tmp_path / "output" / "data" / "len7" / "ml-100k-temporal"
    with open(folder / "ml-100k-temporal.train.inter") as f:
        lengths = [len(line.split("\t")[1].split()) for line in list(f)[1:]]
    assert max(lengths) == 7
    assert json.loads((folder / "ml-100k-temporal.split.json").read_text())["profile_option"] == "--cut-quantile 0.8"
    assert grid.recbole_data_config("ml-100k", str(budget)) == {}


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid")
    budget = folder / "tiny.yaml"
    budget.write_text(TINY_BUDGET)
    cwd = os.getcwd()
    os.chdir(folder)
    argv = ["--budget", str(budget), "--variants", "baseline", "kd_metadata", "kd_random", "--seeds", "1",
            "--results", str(folder / "results"), "--work", str(folder / "work")]
    try:
        assert grid.main(argv) == 0
    finally:
        os.chdir(cwd)
    return folder, argv


@pytest.mark.slow
def test_metadata_control_texts_come_from_training_interactions(tiny_grid):
    folder, _ = tiny_grid
    texts = {}
    with open(folder / "work" / "ml-100k" / "metadata" / "profiles.jsonl") as f:
        for line in f:
            record = json.loads(line)
            texts[record["user"]] = record["profile"]
    assert len(texts) == 943
    assert texts["1"].startswith("Favourite genres: Drama ") and texts["1"].count("%") == 5
    profiles, _ = read_atomic(str(folder / "work" / "ml-100k" / "metadata" / "ml-100k.user"))
    random, _ = read_atomic(str(folder / "work" / "ml-100k" / "random" / "ml-100k.user"))
    assert profiles["user_id"].tolist() == random["user_id"].tolist()
    dims = {len(str(v).split()) for v in random["profile_emb"]}
    assert dims == {32}
    values = np.array([float(x) for v in random["profile_emb"] for x in str(v).split()])
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02


@pytest.mark.slow
def test_every_cell_writes_its_run_and_a_rerun_skips_it(tiny_grid, capsys):
    folder, argv = tiny_grid
    paths = {v: folder / "results" / "runs" / "tiny" / "ml-100k" / "SASRec" / v / "seed1.json"
             for v in ("baseline", "kd_metadata", "kd_random")}
    mtimes = {v: p.stat().st_mtime_ns for v, p in paths.items()}
    runs = {v: json.loads(p.read_text()) for v, p in paths.items()}
    assert runs["baseline"]["model"] == "SASRec" and runs["kd_random"]["model"] == "SASRecKD"
    assert runs["kd_random"]["config"]["kd_profile_file"].endswith(os.path.join("random", "ml-100k.user"))
    assert {json.dumps(r["split"]) for r in runs.values()} == {json.dumps(runs["baseline"]["split"])}
    assert all(r["seed"] == 1 and r["epochs_trained"] == 2 and r["config"]["hidden_size"] == 16 for r in runs.values())
    assert runs["kd_metadata"]["cell"]["command"].endswith("--variants kd_metadata --seeds 1")
    for variant, model in (("baseline", "SASRec"), ("kd_random", "SASRecKD")):  # one checkpoint folder per cell
        saved = os.listdir(folder / "work" / "saved" / "tiny" / "ml-100k" / "SASRec" / variant / "seed1")
        assert len(saved) == 1 and saved[0].startswith(f"{model}-") and saved[0].endswith(".pth")
    assert grid.main(argv) == 0
    assert "3 cells, 3 done, 0 to run" in capsys.readouterr().out
    assert {v: p.stat().st_mtime_ns for v, p in paths.items()} == mtimes


@pytest.mark.slow
def test_report_on_the_tiny_grid(tiny_grid):
    folder, _ = tiny_grid
    rows = report.main(["--results", str(folder / "results"), "--budget", "tiny"])
    assert [r["variant"] for r in rows] == ["baseline", "kd_metadata", "kd_random"]
    base = json.loads((folder / "results" / "runs" / "tiny" / "ml-100k" / "SASRec" / "baseline" / "seed1.json")
                      .read_text())
    assert rows[0]["ndcg@10"] == (base["test_result"]["ndcg@10"], 0.0)
    assert rows[1]["paired"]["seeds"] == [1] and rows[1]["paired"]["p_seed_ttest"] is None  # one seed: no t-test
    tables = (folder / "results" / "tiny" / "tables.md").read_text()
    assert "| ml-100k | SASRec | kd_random | 1 |" in tables
    for name in ("ndcg_per_seed.png", "train_time.png"):
        assert (folder / "results" / "tiny" / name).read_bytes()[:4] == b"\x89PNG"


def test_cold_start_dataset_is_written_once_and_names_its_users(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messages = []
    assert grid.recbole_data_config("ml-100k-coldstart", "cpu", log=messages.append) == {
        "data_path": os.path.join("output", "data")}
    assert len(messages) == 1 and "cold-start test users" in messages[0]
    cold_users = grid.subsets("ml-100k-coldstart")["cold_target"]
    info = json.loads((tmp_path / "output" / "data" / "ml-100k-coldstart" / "ml-100k-coldstart.cold.json").read_text())
    assert cold_users == info["cold_test_users"] and len(cold_users) == 400  # seed 0, defaults
    grid.recbole_data_config("ml-100k-coldstart", "cpu", log=messages.append)
    assert len(messages) == 1  # reused, not rewritten
    assert grid.subsets("ml-100k") == {}


@pytest.mark.slow
def test_temporal_metadata_profiles_use_pre_cut_interactions_only(tmp_path):
    from recbole_llmkd.profiles.metadata import category_shares, category_texts
    from recbole_llmkd.formats.split import temporal_cut
    from tests.conftest import ML100K_DIR

    user_file = grid.build_profile_file(str(tmp_path), "ml-100k-temporal", "metadata", log=lambda *_: None)
    with open(tmp_path / "ml-100k-temporal" / "metadata" / "profiles.jsonl") as f:
        texts = {r["user"]: r["profile"] for r in map(json.loads, f)}
    inter, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.inter"))
    item, _ = read_atomic(os.path.join(ML100K_DIR, "ml-100k.item"))
    before = inter[inter["timestamp"].astype(float) < temporal_cut(inter, 0.8)]
    expected = category_texts(category_shares(before, item, "class", holdout=0))
    assert texts == expected and len(texts) == before["user_id"].nunique() == 751
    profiles, _ = read_atomic(user_file)
    assert sorted(profiles["user_id"].astype(str)) == sorted(expected)


@pytest.mark.parametrize("variant, source, keys", [
    ("baseline", None, {}),
    ("baseline_stock", None, {"fast_path": False}),
    ("kd", "llm", {}),
    ("kd_itemmean", "itemmean", {}),
    ("kd_llmitems-nce", "llmitems", {"kd_stages": 2, "kd_alpha": 0.1, "kd_loss": "infonce"}),
    ("kd_metadata-reg", "metadata", {"kd_direction": "hidden_to_profile", "kd_alpha": 0.1, "kd_loss": "mse"}),
    ("kd-nce", "llm", {"kd_loss": "infonce", "kd_temperature": 0.1, "kd_reset_optimizer": True}),
    ("kd-paper", "llm", {"kd_alpha": 0.4, "kd_dynamic_scale": True, "kd_reset_optimizer": False}),
    # the variant's own override wins over the recipe's
    ("kd_beta10-paper", "llm", {"kd_beta_max": 10.0, "kd_alpha": 0.4}),
    # the controls of the attribution: schedule without distillation, a single stage, shuffled profiles
    ("kd_schedule-nce", "llm", {"kd_alpha": 0.0, "kd_stages": 2, "kd_reset_optimizer": True, "kd_loss": "infonce"}),
    ("kd_random_single-nce", "random", {"kd_stages": 1, "kd_alpha": 0.1, "kd_loss": "infonce"}),
    ("kd_metadata_single-nce", "metadata", {"kd_stages": 1, "kd_alpha": 0.1}),
    ("kd_shuffled-nce", "shuffled", {"kd_stages": 2, "kd_alpha": 0.1, "kd_loss": "infonce"}),
])
def test_variant_settings(variant, source, keys):
    got_source, overrides = grid.variant_settings(variant)
    assert got_source == source
    assert {k: overrides[k] for k in keys} == keys
    if grid.split_variant(variant)[1]:
        assert set(grid.RECIPES["paper"]) <= set(overrides)  # a recipe spells out every key


@pytest.fixture
def builds(monkeypatch):
    """The pipeline builds the grid asks for, ``[(source, reference_file, config)]``, each writing an
    empty ``.user`` file instead of running the source."""
    built = []

    def fake_build(config, name, allow_generate, reference_file):
        built.append((name, reference_file, config))
        os.makedirs(os.path.dirname(config.user_path), exist_ok=True)
        open(config.user_path, "w").close()

    monkeypatch.setattr("recbole_llmkd.profiles.sources.build_profile_file", fake_build)
    return built


@pytest.mark.parametrize("source, reference", [("random", "metadata"), ("shuffled", "llm")])
def test_derived_profile_sources_are_built_from_their_reference(tmp_path, builds, source, reference):
    path = grid.build_profile_file(str(tmp_path), "ml-100k", source, log=lambda *_: None)
    assert path == str(tmp_path / "ml-100k" / source / "ml-100k.user")
    assert [(name, ref) for name, ref, _ in builds] == [
        (reference, None), (source, str(tmp_path / "ml-100k" / reference / "ml-100k.user"))]


@pytest.mark.parametrize("dataset", ["ml-100k", "beauty"])
def test_the_llm_item_states_source_is_the_teacher_checks_items_mean(tmp_path, builds, dataset):
    """``kd_llmitems`` trains toward the teacher check's ``items-mean`` design, both read from one
    design file: the pipeline's ``llm_item_mean`` source with the layer and pooling the check used,
    read in float32 as the check's shared reader is (Beauty's own file says int8, for generation),
    no reference file."""
    import yaml

    from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

    path = grid.build_profile_file(str(tmp_path), dataset, "llmitems", log=lambda *_: None)
    built = [(name, ref, c.state_layer, c.state_pooling, c.max_items, c.dtype) for name, ref, c in builds]
    assert path == str(tmp_path / dataset / "llmitems" / f"{dataset}.user")
    source, options, _ = teacher_check.DESIGNS["items-mean"]
    (design_file,) = grid.profile_option_files("llmitems")
    with open(design_file, encoding="utf-8") as f:
        assert {"source": source, **options} == yaml.safe_load(f)
    assert built == [(source, None, options["state_layer"], options["state_pooling"], options["max_items"],
                      options["dtype"])]
    check_dtype = TransformersBackend().dtype  # the teacher check's shared reader: the backend's default
    assert (options["state_layer"], options["state_pooling"], options["max_items"], check_dtype) == (-1, "mean", 30, "float32")
    assert options["dtype"] == check_dtype


@pytest.mark.parametrize("variant", ["kd_beta10", "kd_alpha01", "kd_alpha01-nce", "kd_beta10-reg"])
def test_a_variant_that_changes_nothing_is_refused(variant):
    """Under the shipped defaults (fixed β, α 0.1) and the recipes without the dynamic β, these
    overrides train exactly the recipe itself."""
    with pytest.raises(grid.GridError, match="change nothing"):
        grid.variant_settings(variant)
    with pytest.raises(argparse.ArgumentTypeError, match="change nothing"):
        grid.variant_name(variant)


@pytest.mark.parametrize("variant", ["kd_beta10-paper", "kd_alpha01-paper", "kd_schedule", "baseline_stock"])
def test_a_variant_that_changes_something_is_run(variant):
    grid.variant_settings(variant)


def test_the_nce_recipe_is_the_shipped_defaults():
    """results/README.md reads the `kd-nce` rows as the shipped defaults: every key the recipe sets
    must hold the value properties/overall.yaml ships."""
    with open(os.path.join(properties_dir(), "overall.yaml")) as f:
        shipped = yaml.safe_load(f)
    assert grid.RECIPES["nce"] == {key: shipped[key] for key in grid.RECIPES["nce"]}


@pytest.mark.parametrize("variant, message", [
    ("kd-nope", "unknown recipe 'nope'; recipes: nce, paper, reg"), ("baseline-reg", "KD variants only, not to 'baseline'"),
    ("kdx", "unknown variant 'kdx'"),
])
def test_bad_variant_names(variant, message):
    with pytest.raises(grid.GridError, match=message):
        grid.split_variant(variant)
    with pytest.raises(SystemExit):
        grid.build_parser().parse_args(["--variants", variant])
