"""The benchmark grid: dataset × model × variant × seed, one result JSON per run, resumable.

    python benchmarks/grid.py --datasets ml-100k --models SASRec --seeds 1 2 3 4 5
    python benchmarks/grid.py --budget gpu --datasets ml-100k beauty --models SASRec BERT4Rec --seeds 1 2 3 4 5
    python benchmarks/grid.py --list          # the cells and which are done, nothing run

Every run writes ``results/runs/<budget>/<dataset>/<model>/<variant>/seed<k>.json`` (what
:func:`recbole_llmkd.harness.experiment.train_and_test` records, plus the cell and the command that reruns
it) and is skipped when that file exists, so the grid can be finished over several sessions, in
the background, or on a GPU machine. A running cell is claimed (``<work>/claims/...``), so two grids
started over the same cells (``OMP_NUM_THREADS=1``, one per core) share them out instead of running
each twice; a claim whose process has died is taken over. Each run is a fresh subprocess: a crash loses one run, and
the peak-memory figure is that run's own. Cells run seed-major (every variant of seed 1, then of
seed 2, ...), so a partial grid is still paired.

Variants (the KD ones use the model's kd_* defaults, the shipped recipe ``nce``, unless listed):

* ``baseline``: RecBole's SASRec / BERT4Rec;
* ``kd``: the KD model toward the LLM profiles (the profile pipeline; ml-100k: the shipped
  SmolLM2 profiles);
* ``kd_metadata``: toward "Favourite genres: Drama 41%, ..." texts built from the same training
  interactions, embedded and reduced exactly like the LLM profiles (no LLM);
* ``kd_random``: toward a fixed random N(0, 1) vector per user, of the same dims;
* ``kd_itemmean``: toward the mean sentence embedding of the user's training items' texts, reduced
  like the LLM profiles (``recbole_llmkd.profiles.item_mean``: the cheap teacher, no LLM);
* ``kd_llmitems``: toward the LLM's own reading of the training items: SmolLM2's hidden states over
  each item's text (last block, mean over its tokens), averaged per user, reduced like the LLM
  profiles (``recbole_llmkd.profiles.llm_states``; the teacher check's design ``items-mean``, the
  one that complements the interactions on Beauty), its options in
  ``properties/profiles/designs/items-mean.yaml``. Built on first use, one forward pass an item
  text (Beauty: about 12,000 texts, 1 to 2 hours on one core; ml-100k: 1,682, minutes), cached in
  the source's ``states.jsonl``;
* ``kd_beta10``, ``kd_alpha01``: ablations of the paper's known problem, the uncapped dynamic β
  (``kd_beta_max: 10``; ``kd_alpha: 0.1``), on the LLM profiles; under the shipped defaults (fixed
  β, α 0.1) they change nothing and are refused: run them with a recipe (``kd_beta10-paper``);
* ``kd_shuffled``: toward the LLM profile vectors permuted across users (seed 0): the same vectors,
  none its own user's (the control for the teacher's content);
* ``kd_schedule``: the KD model and trainer exactly as the recipe has them (LLM profile file loaded,
  same stage switch, optimizer rebuild and patience reset) with ``kd_alpha: 0``: stage 1 trains on
  ``L_rec`` alone (the control for the two-stage schedule, without distillation);
* ``kd_random_single``, ``kd_metadata_single``: distillation for the whole run (``kd_stages: 1``:
  no switch, no optimizer rebuild, no patience reset), toward the random / genre-text targets.

A KD variant may end in ``-<recipe>`` (``kd-reg``, ``kd_metadata-nce``): the recipe's kd_* keys
(``RECIPES``, defined in :mod:`recbole_llmkd.kd_settings`) replace the model's defaults for that run;
the name without a recipe trains with whatever the shipped defaults are (each run's JSON records the
keys it used). A variant whose overrides change nothing on top of its recipe (or the defaults) is
refused (:func:`recbole_llmkd.kd_settings.changes_something`).

Budgets (``benchmarks/budgets/<name>.yaml``) are RecBole config files shared by every run.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.run_files import USERS_FOLDER  # noqa: E402
from recbole_llmkd.kd_settings import DEFAULTS, KD_MODEL_OF, RECIPES, changes_something  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
KD_NAME = KD_MODEL_OF  # backbone -> its KD model
VARIANTS = {
    "baseline": (None, {}),
    # the baseline with fast_path: False whatever the budget says (stock RecBole, for the fast-path check)
    "baseline_stock": (None, {"fast_path": False}),
    "kd": ("llm", {}),
    "kd_metadata": ("metadata", {}),
    "kd_random": ("random", {}),
    "kd_itemmean": ("itemmean", {}),
    "kd_llmitems": ("llmitems", {}),
    "kd_beta10": ("llm", {"kd_beta_max": 10.0}),
    "kd_alpha01": ("llm", {"kd_alpha": 0.1}),
    "kd_shuffled": ("shuffled", {}),
    "kd_schedule": ("llm", {"kd_alpha": 0.0}),
    "kd_random_single": ("random", {"kd_stages": 1}),
    "kd_metadata_single": ("metadata", {"kd_stages": 1}),
}
DEFAULT_VARIANTS = ("baseline", "kd", "kd_metadata", "kd_random")


@dataclass(frozen=True)
class GridDataset:
    """``source``: the atomic dataset; ``data_path``: where it lives (None: RecBole's bundled copy);
    ``temporal``: (valid, test) cut quantiles of a global temporal split (RecBole benchmark files),
    or None for leave-one-out;
    ``cold_start``: the source is ml-100k after the item cold-start protocol
    (``dataset_converters.cold_start``, default options), written on first use."""

    source: str
    data_path: Optional[str]
    temporal: Optional[Tuple[float, float]] = None
    cold_start: bool = False


DATASETS = {
    "ml-100k": GridDataset("ml-100k", None),
    "ml-100k-temporal": GridDataset("ml-100k", None, temporal=(0.8, 0.9)),
    "ml-100k-coldstart": GridDataset("ml-100k-coldstart", os.path.join("output", "data"), cold_start=True),
    "beauty": GridDataset("beauty", os.path.join("output", "data")),
}


class GridError(RuntimeError):
    pass


def split_variant(variant):
    """``"kd_metadata-reg"`` -> ``("kd_metadata", "reg")``; ``"kd"`` -> ``("kd", None)``."""
    base, _, recipe = variant.partition("-")
    if base not in VARIANTS:
        raise GridError(f"unknown variant {variant!r}: expected one of {sorted(VARIANTS)}, optionally "
                        f"followed by -<recipe> ({', '.join(sorted(RECIPES))})")
    if recipe and recipe not in RECIPES:
        raise GridError(f"variant {variant!r}: unknown recipe {recipe!r}; recipes: {', '.join(sorted(RECIPES))}")
    if recipe and VARIANTS[base][0] is None:
        raise GridError(f"variant {variant!r}: a recipe applies to KD variants only, not to {base!r}")
    return base, recipe or None


def variant_settings(variant):
    """``(profile source or None, kd_* overrides)`` of a variant name; a variant whose own overrides
    change nothing on top of its recipe (or the shipped defaults) is refused."""
    base, recipe = split_variant(variant)
    source, overrides = VARIANTS[base]
    under = {**DEFAULTS, **(RECIPES[recipe] if recipe else {})}
    if overrides and not changes_something(under, overrides):
        raise GridError(f"variant {variant!r}: its overrides {overrides} change nothing under "
                        f"{'recipe ' + repr(recipe) if recipe else 'the shipped defaults'}; give it a recipe where "
                        f"they matter (e.g. {base}-paper)")
    return source, {**(RECIPES[recipe] if recipe else {}), **overrides}


def variant_name(text):
    """argparse type of ``--variants``."""
    try:
        variant_settings(text)
    except GridError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def run_path(results, budget, dataset, model, variant, seed):
    return os.path.join(results, "runs", budget, dataset, model, variant, f"seed{seed}.json")


def claim_path(work, budget, dataset, model, variant, seed):
    """Where a running cell's claim lives: under the work folder (not committed), beside its checkpoints."""
    return os.path.join(work, "claims", budget, dataset, model, variant, f"seed{seed}.claim")


UNKNOWN_OWNER = {"pid": None, "host": None, "since": None}  # a claim being written right now


def claim_owner(path):
    """The live claim at ``path`` as ``{"pid", "host", "since"}``, or None when there is none or its
    process has ended on this machine (a crashed or killed lane leaves its claim behind)."""
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # half-written by a lane that is claiming it right now
        return dict(UNKNOWN_OWNER)
    if owner.get("host") == socket.gethostname():
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return owner


def take_claim(path):
    """Claim a cell (or a profile build) for this process, atomically (O_EXCL), so that several grids
    over the same cells run each cell once. Returns None when claimed, else the live owner; a dead owner's claim is
    taken over."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = claim_owner(path)
            if owner is not None:
                return owner
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "since": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
        return None
    return claim_owner(path) or dict(UNKNOWN_OWNER)


def describe_owner(owner):
    where = f"pid {owner['pid']}" if owner.get("pid") else "another grid"
    if owner.get("host") and owner["host"] != socket.gethostname():
        where += f" on {owner['host']}"
    return where + (f", since {owner['since']}" if owner.get("since") else "")


def cells(datasets, models, variants, seeds):
    """Seed-major order: a partial grid holds every variant of its first seeds."""
    return [(d, m, v, s) for d in datasets for m in models for s in seeds for v in variants]


def ensure_source(dataset, log=print):
    """The RecBole data_path of the atomic source of ``dataset``; Beauty is converted from
    ../shared/data on first use."""
    if dataset not in DATASETS:
        raise GridError(f"unknown dataset {dataset!r}; the grid knows {sorted(DATASETS)}")
    spec = DATASETS[dataset]
    if spec.data_path is None:
        return None
    target = os.path.join(spec.data_path, spec.source, f"{spec.source}.inter")
    if not os.path.exists(target) and spec.cold_start:
        from dataset_converters.cold_start import write_cold_start
        from recbole_llmkd.formats.files import dataset_files

        folder, info = write_cold_start(os.path.dirname(dataset_files("ml-100k")[0]), "ml-100k", spec.data_path,
                                        spec.source)
        log(f"cold-start dataset written to {folder}: {len(info['cold_test_users'])} cold-start test users")
    elif not os.path.exists(target):
        from dataset_converters import convert

        raw = os.path.join(SHARED_DATA, "amazon-beauty-5core")
        if not os.path.isdir(raw):
            raise GridError(f"{target} does not exist and the raw Beauty files are not in {raw}")
        log(f"converting {raw} -> {os.path.dirname(target)}")
        convert(spec.source, raw, spec.data_path)
    return spec.data_path


def recbole_data_config(dataset, budget, log=print):
    """The RecBole config keys that select ``dataset``: its data_path, and for a temporal split the
    benchmark files (written on first use, histories cut to the budget's MAX_ITEM_LIST_LENGTH)."""
    spec = DATASETS.get(dataset)
    source_path = ensure_source(dataset, log)
    if spec.temporal is None:
        return {} if source_path is None else {"data_path": source_path}
    from dataset_converters.temporal_split import write_split
    from recbole_llmkd.formats.files import dataset_files

    max_len = int(budget_settings(budget).get("MAX_ITEM_LIST_LENGTH", 50))
    data_path = os.path.join("output", "data", f"len{max_len}")
    if not os.path.exists(os.path.join(data_path, dataset, f"{dataset}.test.inter")):
        inter_path, _ = dataset_files(spec.source, source_path)
        write_split(inter_path, data_path, dataset, *spec.temporal, max_len=max_len)
        log(f"temporal split written to {os.path.join(data_path, dataset)}")
    return {"data_path": data_path, "benchmark_filename": ["train", "valid", "test"], "load_col": None}


def profile_dir(work, dataset, source):
    return os.path.join(work, dataset, source)


# grid source -> the recbole_llmkd.profiles.sources name that builds it
PROFILE_SOURCES = {"llm": "llm", "metadata": "metadata", "itemmean": "item_mean", "random": "random",
                   "shuffled": "shuffled", "llmitems": "llm_item_mean"}
# the pipeline options files a source is built with, under properties/profiles/ (the dataset's own file
# is read first, so a design file's keys win over it)
PROFILE_OPTION_FILES = {"llmitems": ("designs", "items-mean.yaml")}
# the sources written from another source's .user file: random copies its users and dims, shuffled permutes its vectors
REFERENCE_SOURCE = {"random": "metadata", "shuffled": "llm"}
PROFILE_WAIT_SECONDS = 10  # how often a grid waiting for another's profile build looks again
PROFILE_WAIT_REPORT_SECONDS = 600  # how often it says it is still waiting (a build can take an hour)


def build_profile_file(work, dataset, source, data_path=None, allow_generate=False, log=print):
    """The ``.user`` file of a profile source (:data:`PROFILE_SOURCES`), built once and reused,
    by :func:`recbole_llmkd.profiles.sources.build_profile_file` with this dataset's split and text.
    Grids side by side build each file once: the first claims it, the others wait for it."""
    out = profile_dir(work, dataset, source)
    user_file = os.path.join(out, f"{dataset}.user")
    claim = os.path.join(work, "claims", "profiles", dataset, f"{source}.claim")
    while not os.path.exists(user_file):
        owner = take_claim(claim)
        if owner is None:
            try:
                return _build_profile_file(work, dataset, source, data_path, allow_generate, log, out, user_file)
            finally:
                os.remove(claim)
        log(f"profiles ({source}): {describe_owner(owner)} is building them; waiting")
        started = reported = time.monotonic()
        while claim_owner(claim) is not None:
            if time.monotonic() - reported >= PROFILE_WAIT_REPORT_SECONDS:
                reported = time.monotonic()
                log(f"profiles ({source}): still waiting, {(reported - started) / 60:.0f} min")
            time.sleep(PROFILE_WAIT_SECONDS)
    return user_file


def _build_profile_file(work, dataset, source, data_path, allow_generate, log, out, user_file):
    from recbole_llmkd.profiles.config import load_config
    from recbole_llmkd.profiles.generate import ProfilesNotCached
    from recbole_llmkd.profiles.sources import build_profile_file as build_from_source

    if dataset not in DATASETS:
        raise GridError(f"unknown dataset {dataset!r}; the grid knows {sorted(DATASETS)}")
    if source not in PROFILE_SOURCES:
        raise GridError(f"unknown profile source {source!r}; expected one of {', '.join(PROFILE_SOURCES)}")
    spec = DATASETS[dataset]
    cut = spec.temporal[0] if spec.temporal else None  # temporal: profiles from training (pre-valid-cut) data only
    config = load_config(profile_option_files(source), dataset=spec.source, data_path=data_path, output_dir=out,
                         cut_quantile=cut, user_file=user_file)
    reference = build_profile_file(work, dataset, REFERENCE_SOURCE[source], data_path, allow_generate, log) \
        if source in REFERENCE_SOURCE else None
    try:
        build_from_source(config, PROFILE_SOURCES[source], allow_generate=allow_generate,
                          reference_file=reference)
    except ProfilesNotCached as error:
        raise GridError(f"{error}, or pass --allow-generate") from None
    log(f"profiles ({source}): {user_file}")
    return user_file


def profile_option_files(source):
    """The YAML files of :data:`PROFILE_OPTION_FILES` for ``source`` (none for most sources)."""
    from recbole_llmkd.integration.config_files import properties_dir

    parts = PROFILE_OPTION_FILES.get(source)
    return [os.path.join(properties_dir(), "profiles", *parts)] if parts else []


def subsets(dataset):
    """Named groups of test users to report on separately (the cold-start users)."""
    spec = DATASETS[dataset]
    if not spec.cold_start:
        return {}
    with open(os.path.join(spec.data_path, spec.source, f"{spec.source}.cold.json"), encoding="utf-8") as f:
        return {"cold_target": json.load(f)["cold_test_users"]}


def budget_file(budget):
    """A budget name (``benchmarks/budgets/<name>.yaml``) or the path of a YAML file."""
    path = budget if budget.endswith((".yaml", ".yml")) else os.path.join(ROOT, "benchmarks", "budgets", f"{budget}.yaml")
    if not os.path.exists(path):
        raise GridError(f"budget {budget!r}: no file {path}")
    return path


def budget_files(budget):
    """The budget's YAML files in the order RecBole reads them: a budget whose file says
    ``extends: <budget>`` is that budget's files, then its own (its keys win)."""
    chain = [budget_file(budget)]
    while True:
        with open(chain[0], encoding="utf-8") as f:
            base = (yaml.safe_load(f) or {}).get("extends")
        if base is None:
            return chain
        path = budget_file(base)
        if path in chain:
            raise GridError(f"budget {budget!r}: 'extends' goes round in a circle through {path}")
        chain.insert(0, path)


def budget_settings(budget):
    """The budget's keys, merged as RecBole merges its files."""
    settings = {}
    for path in budget_files(budget):
        with open(path, encoding="utf-8") as f:
            settings.update(yaml.safe_load(f) or {})
    settings.pop("extends", None)
    return settings


def budget_name(budget):
    return os.path.splitext(os.path.basename(budget))[0]


def cell_command(budget, dataset, model, variant, seed):
    return (f"python benchmarks/grid.py --budget {budget} --datasets {dataset} --models {model} "
            f"--variants {variant} --seeds {seed}")


def run_cell(args, dataset, model, variant, seed, log=print):
    """Build what the cell needs, then train it in a subprocess that writes the result JSON."""
    source, overrides = variant_settings(variant)
    # state INFO: RecBole's log file (./log/<model>/) gets every epoch; the console only warnings
    config = {"seed": seed, "show_progress": False, "state": "INFO",
              # per cell: RecBole names checkpoints by model and second, so concurrent grids could collide
              "checkpoint_dir": os.path.join(args.work, "saved", budget_name(args.budget), dataset, model, variant, f"seed{seed}"), **recbole_data_config(dataset, args.budget, log)}
    name = model
    if source is not None:
        name = KD_NAME[model]
        config["kd_profile_file"] = build_profile_file(args.work, dataset, source, ensure_source(dataset, log),
                                                       args.allow_generate, log)
    config.update(overrides)
    out = run_path(args.results, budget_name(args.budget), dataset, model, variant, seed)
    job = {"model": name, "dataset": dataset, "config_dict": config, "config_files": budget_files(args.budget),
           "out": out, "users_dir": os.path.join(args.results, "runs", USERS_FOLDER), "subsets": subsets(dataset), "cell": {"budget": budget_name(args.budget), "dataset": dataset, "model": model, "variant": variant,
                                "seed": seed, "command": cell_command(args.budget, dataset, model, variant, seed)}}
    if args.device != "auto":
        config["use_gpu"] = args.device != "cpu"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--run-job", json.dumps(job)], cwd=os.getcwd())
    if proc.returncode != 0:
        raise GridError(f"{job['cell']['command']} failed (exit {proc.returncode})")
    return time.perf_counter() - started


def run_job(job):
    """In the subprocess: one train_and_test, written atomically with its cell description, its
    per-user values in the compact form of ``benchmarks/run_files.py`` (the users in ``users/``
    beside the budgets' folders)."""
    from benchmarks.run_files import compact_run
    from recbole_llmkd.harness.experiment import train_and_test
    from recbole_llmkd.formats.files import write_text_atomic

    sys.argv = sys.argv[:1]  # RecBole's Config reads --key=value flags from sys.argv: the job is not one
    result = train_and_test(job["model"], job["dataset"], job["config_dict"], job["config_files"], quiet_console=True)
    result["cell"] = job["cell"]
    result["subsets"] = job["subsets"]
    result = compact_run(result, job["users_dir"])
    os.makedirs(os.path.dirname(job["out"]), exist_ok=True)
    write_text_atomic(job["out"], json.dumps(result) + "\n")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="cpu", help="cpu, gpu (benchmarks/budgets/<name>.yaml) or a YAML path")
    parser.add_argument("--datasets", nargs="+", default=["ml-100k"], choices=sorted(DATASETS), help="datasets of the cells")
    parser.add_argument("--models", nargs="+", default=["SASRec"], choices=sorted(KD_NAME), help="backbones of the cells")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), type=variant_name,
                        help=f"{', '.join(VARIANTS)}; a KD variant may end in -<recipe> "
                             f"({', '.join(RECIPES)}): kd-paper, kd_metadata-reg")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="RecBole seeds, one run each")
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="where runs/ goes")
    parser.add_argument("--work", default=os.path.join("output", "grid"), help="profiles and checkpoints")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"], help="auto: the GPU if there is one")
    parser.add_argument("--allow-generate", action="store_true", help="run the LLM for datasets without shipped profiles")
    parser.add_argument("--list", action="store_true", help="list the cells and their state; run nothing")
    parser.add_argument("--run-job", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.run_job:
        return run_job(json.loads(args.run_job))
    budget_files(args.budget)
    todo = cells(args.datasets, args.models, args.variants, args.seeds)
    done = [c for c in todo if os.path.exists(run_path(args.results, budget_name(args.budget), *c))]
    print(f"{len(todo)} cells, {len(done)} done, {len(todo) - len(done)} to run (budget {args.budget})")
    if args.list:
        for c in todo:
            owner = None if c in done else claim_owner(claim_path(args.work, budget_name(args.budget), *c))
            state = "done" if c in done else "todo" if owner is None else f"running in {describe_owner(owner)}"
            print(f"  [{state}] {cell_command(args.budget, *c)}")
        return 0
    failures = []
    for i, c in enumerate(todo, start=1):
        if c in done:
            continue
        claim = claim_path(args.work, budget_name(args.budget), *c)
        owner = take_claim(claim)
        if owner is not None:
            print(f"[{i}/{len(todo)}] running in {describe_owner(owner)}: left to it", flush=True)
            continue
        try:
            if os.path.exists(run_path(args.results, budget_name(args.budget), *c)):
                continue  # another grid finished it since the list was made
            print(f"[{i}/{len(todo)}] {cell_command(args.budget, *c)}", flush=True)
            seconds = run_cell(args, *c)
            print(f"[{i}/{len(todo)}] done in {seconds:.0f} s", flush=True)
        except GridError as err:
            print(f"[{i}/{len(todo)}] skipped: {err}", file=sys.stderr, flush=True)
            failures.append(c)
        finally:
            os.remove(claim)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
