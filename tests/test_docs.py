"""Every command and Python snippet of the documentation site (docs/), run as written, so that a
renamed key, flag or function breaks a test rather than a reader.

The convention (what the pages may contain and what happens to it):

* A ```` ```bash ```` block: each command (backslash continuations joined, comments dropped) runs
  in-process through its own entry point (``runpy``, as ``python`` runs it), in a fresh folder per page,
  one block after the other, so a page's later commands see the files its earlier ones wrote.
* A ```` ```python ```` block: executed as written.
* A ```` ```yaml title="PATH" ```` block: written to PATH before the blocks after it run.
* ```` ```text ```` blocks (output, file formats) are not run; no other language may appear.
* ``<!-- not-run: REASON -->`` on the line before a ``bash`` block: its commands are not run, but each
  is parsed by its own command line parser (a renamed flag fails), ``pip install`` lines must name
  extras that ``setup.cfg`` defines and scripts must exist. It is for the few commands that take hours
  or need what a test machine lacks (an LLM server, raw downloads, several processes); REASON says
  which and where else the thing is tested, and may not be empty.

The tiny budget, the same for every page: training runs get ``TINY`` (2 epochs, hidden size 16, users
with at most 40 interactions) in place of their epochs; profile commands of the LLM source get 60 users
(from the shipped cache: no generation) and every profile command PCA instead of UMAP, unless the page
names a reducer; a ``.user`` file a command reads that no earlier block wrote is the genre profile
fixture of ``conftest.py`` (the stand-in for the 943-user profile build); ``report.py``,
``select_recipe.py`` and ``attribution_decision.py`` write into a copy of ``results/``, never into the
repository's. Every ``kd_*`` key a block names must be one that ``properties/overall.yaml`` defines.
"""

import argparse
import configparser
import contextlib
import importlib.util
import os
import re
import runpy
import shlex
import shutil
import sys
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
TINY = {"epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
        "user_inter_num_interval": "[0,40]", "state": "WARNING", "show_progress": False}
PROFILE_TINY_USERS = 60
LANGUAGES = {"bash", "python", "yaml", "text"}
MAX_NOT_RUN_BLOCKS = 12
FENCE = re.compile(r"(?:^<!-- not-run: (?P<reason>.*?) -->\n)?^```(?P<lang>\w*)(?P<info>[^\n]*)\n(?P<code>.*?)^```$",
                   re.M | re.S)


def _hook():
    spec = importlib.util.spec_from_file_location("docs_generate", os.path.join(DOCS, "hooks", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = _hook()
KD_KEYS = {key for _, key, *_ in HOOK.overall_yaml_keys()}


@dataclass
class Block:
    page: str
    line: int
    lang: str
    info: str
    code: str
    reason: str  # None: run it

    @property
    def title(self):
        found = re.search(r'title="([^"]+)"', self.info)
        return found and found.group(1)


def pages():
    found = []
    for folder, dirs, names in os.walk(DOCS):
        dirs[:] = sorted(d for d in dirs if d != "hooks")
        found += [os.path.relpath(os.path.join(folder, n), DOCS) for n in sorted(names) if n.endswith(".md")]
    return sorted(found)


def read_page(page):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        return f.read()


def blocks(page):
    text = read_page(page)
    return [Block(page, text[:m.start()].count("\n") + 1, m.group("lang"), m.group("info"), m.group("code"),
                  m.group("reason")) for m in FENCE.finditer(text)]


def commands(code):
    """The commands of a bash block: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    lines = [re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in joined.splitlines()]
    return [shlex.split(line) for line in lines if line]


ALL_BLOCKS = [block for page in pages() for block in blocks(page)]
RUN_PAGES = sorted({b.page for b in ALL_BLOCKS if b.reason is None and b.lang in ("bash", "python")})


# ---- the convention itself -------------------------------------------------------------------------

def test_the_docs_have_pages_and_runnable_blocks():
    assert {"index.md", "getting-started.md", "concepts.md", "how-to/own-dataset.md",
            "reference/config-keys.md"} <= set(pages())
    assert len(RUN_PAGES) >= 8


@pytest.mark.parametrize("page", pages())
def test_every_block_is_of_a_known_kind_and_every_marker_belongs_to_a_bash_block(page):
    found = blocks(page)
    assert all(b.lang in LANGUAGES for b in found), [(b.line, b.lang) for b in found if b.lang not in LANGUAGES]
    marked = [b for b in found if b.reason is not None]
    assert read_page(page).count("<!-- not-run:") == len(marked)  # no marker away from its block
    assert all(b.lang == "bash" and len(b.reason.strip()) > 20 for b in marked), [b.line for b in marked]


def test_not_run_blocks_are_few():
    marked = [f"{b.page}:{b.line}" for b in ALL_BLOCKS if b.reason is not None]
    assert 0 < len(marked) <= MAX_NOT_RUN_BLOCKS, marked


@pytest.mark.parametrize("page", pages())
def test_every_kd_key_a_block_names_is_defined(page):
    named = set()
    for block in blocks(page):
        if block.lang in ("bash", "python", "yaml"):
            named |= set(re.findall(r"--(kd_\w+)=", block.code))
            named |= set(re.findall(r"[\"'](kd_\w+)[\"']\s*:", block.code))
            named |= set(re.findall(r"^(kd_\w+)\s*:", block.code, flags=re.M))
    assert named <= KD_KEYS, named - KD_KEYS


# ---- not-run blocks: parsed, not run -----------------------------------------------------------------

class Parsed(Exception):
    """Raised by the patched parser once a command line has been parsed: the command stops there."""


@contextlib.contextmanager
def stop_after_parsing():
    """Patch argparse so that the outermost parse of a command line raises :class:`Parsed` (bad
    flags still exit with status 2 first)."""
    original_args, original_known = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args
    depth = [0]

    def parse_args(self, args=None, namespace=None):
        depth[0] += 1
        try:
            result = original_args(self, args, namespace)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            raise Parsed(result, [])
        return result

    def parse_known_args(self, args=None, namespace=None):
        depth[0] += 1
        try:
            result = original_known(self, args, namespace)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            raise Parsed(*result)
        return result

    argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = parse_args, parse_known_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = original_args, original_known


def setup_extras():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    return set(parser["options.extras_require"])


def check_without_running(argv, monkeypatch):
    if argv[:2] == ["pip", "install"]:
        for spec in argv[2:]:
            extras = re.search(r"\[([\w,]+)\]", spec)
            assert extras is None or set(extras.group(1).split(",")) <= setup_extras(), spec
        return "pip"
    if argv[0] == "bash":
        assert os.path.isfile(os.path.join(ROOT, argv[1])), argv
        return "script"
    if argv[:3] == ["python", "-m", "llama_cpp.server"]:
        return "third-party server"
    assert argv[0] == "python", argv
    target = argv[2] if argv[1] == "-m" else argv[1]
    rest = argv[3:] if argv[1] == "-m" else argv[2:]
    monkeypatch.setattr(sys, "argv", [target, *rest])
    with stop_after_parsing(), pytest.raises(Parsed) as parsed:
        if argv[1] == "-m":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(os.path.join(ROOT, target), run_name="__main__")
    unknown = [a for a in parsed.value.args[1] if not re.match(r"--\w+=", a)]
    assert unknown == [], unknown  # RecBole's --key=value overrides are the only extra arguments
    return "parsed"


NOT_RUN = [(b, i) for b in ALL_BLOCKS if b.reason is not None for i in range(len(commands(b.code)))]


@pytest.mark.parametrize("block,index", NOT_RUN, ids=[f"{b.page}:{b.line}:{i}" for b, i in NOT_RUN])
def test_a_command_that_is_not_run_still_parses(block, index, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert check_without_running(commands(block.code)[index], monkeypatch)


# ---- run blocks: executed with the tiny budget --------------------------------------------------------

def stage_profile_files(text, profile_file):
    """Put the genre profile fixture where ``text`` reads a ``.user`` file that does not exist yet."""
    for path in set(re.findall(r"[\w./-]+\.user\b", text)):
        if not os.path.isabs(path) and not os.path.exists(path) and "/" in path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy(profile_file, path)


def tiny_training(argv, budget=TINY):
    kept = [a for a in argv if not any(a.startswith(f"--{key}=") for key in budget)]
    return kept + [f"--{key}={value}" for key, value in budget.items()]


def tiny_profiles(argv):
    step = argv[0]
    if step == "check":
        return argv
    source = argv[argv.index("--source") + 1] if "--source" in argv else "llm"
    extra = []
    if source == "llm" and step in ("all", "generate"):
        extra += ["--limit-users", str(PROFILE_TINY_USERS)]
    if step in ("all", "reduce") and "--reducer" not in argv:
        extra += ["--reducer", "pca", "--n-components", "8"]
    return argv + extra


def results_copy(argv, workdir):
    """``--results`` pointing at a copy of results/ (every budget's runs: a few MB), so nothing in the
    repository is rewritten."""
    copy = os.path.join(workdir, "results-copy")
    if not os.path.isdir(copy):
        shutil.copytree(os.path.join(ROOT, "results"), copy)
    return argv + ["--results", copy]


def run_command(argv, monkeypatch, workdir):
    assert argv[0] == "python" and argv[:3] != ["python", "-m", "llama_cpp.server"], argv
    module = argv[2] if argv[1] == "-m" else None
    script = None if module else argv[1]
    rest = argv[3:] if module else argv[2:]
    if script == "run_recbole_kd.py":
        assert "--pipeline" not in rest and "--nproc" not in rest, "the main job and --nproc belong in not-run blocks"
        rest = tiny_training(rest)
    elif script == "run_hyper_kd.py":
        rest = [("1" if previous == "--max_evals" else a) for previous, a in zip([None, *rest], rest)]
    elif module == "recbole_llmkd.profiles":
        rest = tiny_profiles(rest)
    elif script in ("benchmarks/report.py", "benchmarks/select_recipe.py", "benchmarks/attribution_decision.py"):
        rest = results_copy(rest, workdir)
    elif script == "benchmarks/grid.py":
        assert "--list" in rest, "grid runs belong in not-run blocks"
    monkeypatch.setattr(sys, "argv", [module or script, *rest])  # RecBole's Config reads sys.argv
    try:
        if module:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(os.path.join(ROOT, script), run_name="__main__")
    except SystemExit as stop:
        assert stop.code in (0, None), f"{shlex.join(argv)} exited with {stop.code}"


def write_titled_file(block, hyper=False):
    """A ``yaml title="PATH"`` block: written to PATH; a file that sets ``epochs`` gets the tiny budget
    (for a search, 6 epochs: the shipped space draws kd_epochs up to 6)."""
    text = block.code
    if re.search(r"^epochs\s*:", text, flags=re.M):
        budget = dict(TINY, epochs=6) if hyper else TINY
        text = re.sub(r"^epochs\s*:.*\n", "", text, flags=re.M)
        text += "".join(f"{key}: {value!r}\n" if isinstance(value, str) else f"{key}: {value}\n"
                        for key, value in budget.items())
    folder = os.path.dirname(block.title)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(block.title, "w", encoding="utf-8") as f:
        f.write(text)


def run_python(code):
    tiny = ", ".join(f"{key!r}: {value!r}" for key, value in TINY.items()).replace("'", '"')
    exec(compile(re.sub(r'"epochs": \d+', tiny, code), "<docs snippet>", "exec"), {"__name__": "__docs__"})


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_page_runs(page, run_dir, profile_file, monkeypatch, capsys):
    page_blocks = blocks(page)
    hyper = any("run_hyper_kd.py" in b.code for b in page_blocks if b.lang == "bash")
    ran = 0
    for block in page_blocks:
        if block.reason is not None or block.lang == "text":
            continue
        if block.lang == "yaml":
            if block.title:
                write_titled_file(block, hyper=hyper)
            continue
        stage_profile_files(block.code + "".join(b.code for b in page_blocks if b.lang == "yaml"), profile_file)
        if block.lang == "python":
            run_python(block.code)
            ran += 1
        else:
            for argv in commands(block.code):
                run_command(argv, monkeypatch, str(run_dir))
                ran += 1
    assert ran > 0
    capsys.readouterr()


# ---- what the generated reference pages are generated from -------------------------------------------

def test_the_command_list_covers_every_command_line_of_the_repository():
    scripts = [os.path.relpath(os.path.join(folder, name), ROOT)
               for pattern_folder in ("", "benchmarks", "dataset_converters", "recbole_llmkd", "recbole_llmkd/profiles")
               for folder in [os.path.join(ROOT, pattern_folder)]
               for name in sorted(os.listdir(folder)) if name.endswith(".py")]
    with_main = [path for path in scripts
                 if '__name__ == "__main__"' in open(os.path.join(ROOT, path), encoding="utf-8").read()]
    expected = set()
    for path in with_main:
        if path.endswith("__main__.py"):
            expected.add("python -m " + os.path.dirname(path).replace("/", "."))
        elif path.startswith(("dataset_converters/", "recbole_llmkd/")):
            expected.add("python -m " + path[:-3].replace("/", "."))
        else:
            expected.add("python " + path)
    expected.add("python -m recbole_llmkd.profiles")  # its __main__.py calls cli.main
    assert expected <= set(HOOK.COMMANDS.values()), expected - set(HOOK.COMMANDS.values())
    assert "python run_recbole_kd.py" in expected and "python benchmarks/grid.py" in expected


@pytest.mark.parametrize("key", sorted(KD_KEYS - {"train_neg_sample_args"}))
def test_every_kd_key_is_in_the_generated_reference(key):
    table = HOOK.kd_keys_markdown()
    row = next(line for line in table.splitlines() if line.startswith(f"| `{key}` |"))
    assert row.count("|") >= 5 and row.split("|")[4].strip()  # a meaning, not an empty cell


def test_the_generated_keys_are_the_ones_the_models_read():
    """The table's source is the file RecBole's Config reads for a KD model: same keys, same defaults."""
    import yaml

    from recbole_llmkd.integration.config import KDConfig

    config = KDConfig("SASRecKD", "ml-100k", config_dict={"train_neg_sample_args": None})
    with open(os.path.join(ROOT, "properties", "overall.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)
    keys = [key for _, key, *_ in HOOK.overall_yaml_keys() if key.startswith("kd_")]  # RecBole rewrites its own
    assert len(keys) >= 15
    for key in keys:
        assert key in defaults and config[key] == defaults[key], key


def test_every_profile_option_is_in_the_generated_reference():
    import dataclasses

    from recbole_llmkd.profiles.config import ProfileConfig

    table = HOOK.profile_options_markdown()
    for field in dataclasses.fields(ProfileConfig):
        assert f"| `{field.name}` | `--{field.name.replace('_', '-')}" in table, field.name
    assert all(HOOK.profile_option_sections().values())  # every option under a section title


def test_the_commands_page_asks_for_every_commands_help():
    text = read_page("reference/commands.md")
    assert [line.split()[2] for line in text.splitlines() if line.startswith("<!-- gen:help ")] == list(HOOK.COMMANDS)


def test_the_kd_config_example_prints_what_its_comment_says(capsys):
    (code,) = [b.code for b in blocks("guides/python-api.md") if b.lang == "python" and "KDConfig(" in b.code]
    exec(code, {})
    comment = re.search(r"# (\S+) \(ours\), (\S+) \(RecBole", code)
    assert capsys.readouterr().out.split() == [comment[1], comment[2]] == ["0.1", "2"]


def test_the_headline_block_is_what_the_site_shows():
    headline = HOOK.readme_headline("index.md")
    assert "| Beauty SASRec | 5 | 0.0419 |" in headline and "](results-summary.md)" in headline
    assert "](docs/" not in headline


@pytest.mark.parametrize("argv", [
    ["python", "run_recbole_kd.py", "-m", "SASRecKD", "--nprocs", "2"],             # a flag that is not there
    ["python", "-m", "recbole_llmkd.profiles", "all", "--reducer-name", "pca"],     # a renamed option
    ["python", "benchmarks/grid.py", "--budget", "converged", "--datasets", "ml-1m"],  # a value it refuses
    ["pip", "install", "-e", ".[documentation]"],                                   # an extra setup.cfg lacks
])
def test_the_parse_check_catches_a_wrong_command(argv, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((SystemExit, AssertionError)):
        check_without_running(argv, monkeypatch)
