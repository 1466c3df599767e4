"""MkDocs hook: the pages' generated parts, read from the code's own definitions at build time.

A page asks for a generated part with an HTML comment on a line of its own:

* ``<!-- gen:kd-keys -->``: the KD models' config keys, from the commented lines of
  ``properties/overall.yaml`` (the one place they are defined: key, default, type, meaning).
* ``<!-- gen:profile-options -->``: every option of the profile pipeline, from the fields of
  :class:`recbole_llmkd.profiles.config.ProfileConfig` (name, flag, type, default, help) grouped by
  the ``# --`` section comments of that class.
* ``<!-- gen:help NAME -->``: the ``--help`` of command NAME (a key of :data:`COMMANDS`), captured by
  running the command's own entry point (``docs/hooks/capture_help.py``, one process for all).
* ``<!-- gen:file PATH LANG -->``: the file PATH of the repository, verbatim, as a LANG code block.
* ``<!-- gen:headline -->``: the README's text between ``<!-- headline -->`` and
  ``<!-- /headline -->``, its links rewritten for the site.
* ``<!-- gen:main-job-example -->``: the table, sentence and plot the main job writes, made by its own
  functions from two committed benchmark runs of the same budget and seed (:data:`EXAMPLE_RUNS`).

It also publishes ``results/`` (its Markdown reports, text outputs and plots, not the run JSONs)
under ``results/`` of the site, so the reports' own relative links keep working.
"""

import ast
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

# name -> the command line as a user types it (the first word is "python"); the order of the page.
COMMANDS = {
    "run_recbole_kd": "python run_recbole_kd.py",
    "run_hyper_kd": "python run_hyper_kd.py",
    "profiles": "python -m recbole_llmkd.profiles",
    "metadata": "python -m recbole_llmkd.profiles.metadata",
    "dataset_converters": "python -m dataset_converters",
    "temporal_split": "python -m dataset_converters.temporal_split",
    "cold_start": "python -m dataset_converters.cold_start",
    "grid": "python benchmarks/grid.py",
    "report": "python benchmarks/report.py",
    "run_files": "python benchmarks/run_files.py",
    "select_recipe": "python benchmarks/select_recipe.py",
    "attribution_decision": "python benchmarks/attribution_decision.py",
    "teacher_check": "python benchmarks/teacher_check.py",
    "train_overhead": "python benchmarks/train_overhead.py",
    "train_speed": "python benchmarks/train_speed.py",
    "profile_generation": "python benchmarks/profile_generation.py",
    "generation_cost": "python benchmarks/generation_cost.py",
    "layout_stability": "python benchmarks/layout_stability.py",
    "new_dataset_generation": "python benchmarks/new_dataset_generation.py",
    "convert_movielens": "python benchmarks/convert_movielens.py",
}

RESULT_SUFFIXES = (".md", ".txt", ".png")
# The main job's output drawn by its own functions (recbole_llmkd.harness.main_job) from two committed runs of
# the same budget and seed: the benchmark's seed 1 of RecBole's SASRec and of the shipped defaults.
EXAMPLE_RUNS = ("results/runs/converged/ml-100k/SASRec/baseline/seed1.json",
                "results/runs/converged/ml-100k/SASRec/kd-nce/seed1.json")
EXAMPLE_PLOT = "img/main-job-example.png"
DIRECTIVE = re.compile(r"^<!-- gen:(\S+)(?: (.*?))? -->$", re.M)
_help_cache = {}


# ---- config keys: properties/overall.yaml -------------------------------------------------------

def overall_yaml_keys(path=None):
    """``[(section, key, default, type, meaning)]`` of the commented ``key: value  # (type) text`` lines
    of ``properties/overall.yaml``; a comment-only line right after a key continues its text, and a
    comment block before a group of keys names the section."""
    path = path or os.path.join(ROOT, "properties", "overall.yaml")
    rows, section, pending = [], "", []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    key_line = re.compile(r"^([A-Za-z_]\w*):\s*(.*?)\s*(?:#\s*(.*))?$")
    for line in lines:
        if not line.strip():
            pending = []
            continue
        if line.startswith("#"):
            pending.append(line.lstrip("# ").strip())
            continue
        if line.startswith(" ") and line.strip().startswith("#") and rows:
            rows[-1][4] += " " + line.strip().lstrip("#").strip()
            continue
        match = key_line.match(line)
        if not match:
            raise ValueError(f"{path}: cannot read the line {line!r}")
        key, value, comment = match.groups()
        if pending and not comment:  # a comment block above one key describes that key
            section, comment, pending = "", " ".join(pending), []
        elif pending:  # a comment block above a group of commented keys names the group
            section, pending = " ".join(pending), []
        kind, meaning = "", comment or ""
        typed = re.match(r"\((\w+)\)\s*(.*)", meaning)
        if typed:
            kind, meaning = typed.groups()
        rows.append([section, key, value, kind, meaning])
    return [tuple(row) for row in rows]


def kd_keys_markdown():
    out, section = [], None
    for sec, key, default, kind, meaning in overall_yaml_keys():
        if sec != section:
            section = sec
            out += ["", *_section_heading(sec or "RecBole's own keys that the KD models set."), "",
                    "| key | default | type | meaning |", "| --- | --- | --- | --- |"]
        out.append(f"| `{key}` | `{default}` | {kind} | {_escape(meaning)} |")
    return "\n".join(out).strip() + "\n"


def _section_heading(text):
    """A section comment as a level-3 heading (its first sentence) and the rest as a paragraph."""
    title, _, rest = text.partition(". ")
    return [f"### {_escape(title.rstrip('.'))}"] + (["", _escape(rest)] if rest else [])


# ---- profile options: ProfileConfig --------------------------------------------------------------

def profile_option_sections():
    """``{field name: section title}`` from the ``# -- title`` comments inside ProfileConfig's body."""
    path = os.path.join(ROOT, "recbole_llmkd", "profiles", "config.py")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    cls = next(node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)
               and node.name == "ProfileConfig")
    sections, current = {}, ""
    last = cls.lineno
    for node in cls.body:
        if isinstance(node, ast.AnnAssign):
            for text in lines[last:node.lineno - 1]:
                found = re.match(r"\s*# -- (.*)", text)
                if found:
                    current = found.group(1)
            sections[node.target.id] = current
            last = node.end_lineno
    return sections


def profile_options_markdown():
    import dataclasses
    import typing

    from recbole_llmkd.profiles.config import ProfileConfig

    sections = profile_option_sections()
    out, section = [], None
    for field in dataclasses.fields(ProfileConfig):
        if sections.get(field.name) != section:
            section = sections.get(field.name)
            out += ["", *_section_heading(section[:1].upper() + section[1:]), "",
                    "| option (YAML key) | flag | type | default | meaning |",
                    "| --- | --- | --- | --- | --- |"]
        args = typing.get_args(field.type)
        base = next((a for a in args if a is not type(None)), field.type) if args else field.type
        kind = base.__name__ + (" or null" if type(None) in args else "")
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        shown = "null" if default is None else json.dumps(default) if isinstance(default, (list, dict)) else default
        flag = "--" + field.name.replace("_", "-") + (", -d" if field.name == "dataset" else "")
        out.append(f"| `{field.name}` | `{flag}` | {kind} | `{shown}` | {_escape(field.metadata['help'])} |")
    return "\n".join(out).strip() + "\n"


# ---- --help of every command ---------------------------------------------------------------------

def capture_helps():
    """``{name: help text}`` of every command in COMMANDS, from one child process."""
    if not _help_cache:
        env = dict(os.environ, COLUMNS="100", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        result = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "hooks", "capture_help.py")],
                                input=json.dumps(COMMANDS), capture_output=True, text=True, cwd=ROOT, env=env,
                                timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"capturing the commands' --help failed:\n{result.stderr[-3000:]}")
        _help_cache.update(json.loads(result.stdout.splitlines()[-1]))
    return _help_cache


def help_markdown(name):
    if name not in COMMANDS:
        raise ValueError(f"gen:help {name}: not a command of docs/hooks/generate.py COMMANDS")
    return f"```text\n$ {COMMANDS[name]} --help\n{capture_helps()[name].rstrip()}\n```\n"


# ---- files, README headline ------------------------------------------------------------------------

def file_markdown(argument):
    path, _, lang = argument.partition(" ")
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    return f"```{lang or 'text'} title=\"{path}\"\n{text.rstrip()}\n```\n"


def readme_headline(page_path):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    found = re.search(r"<!-- headline -->\n(.*?)<!-- /headline -->", text, re.S)
    if not found:
        raise ValueError("README.md: no <!-- headline --> ... <!-- /headline --> block")
    depth = page_path.count("/")
    up = "../" * depth

    def relink(match):
        target = match.group(1)
        if re.match(r"[a-z]+://|#", target):
            return match.group(0)
        if target.startswith("docs/"):
            target = target[len("docs/"):]
        return f"]({up}{target})"

    return re.sub(r"\]\(([^)]+)\)", relink, found.group(1))


# ---- the main job's table and plot ------------------------------------------------------------------

def main_job_rows():
    from recbole_llmkd.harness.main_job import check_same_split, table_rows

    runs = []
    for path in EXAMPLE_RUNS:
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            runs.append(json.load(f))
    check_same_split(runs)
    return table_rows(runs)


def main_job_plot():
    import tempfile

    from recbole_llmkd.harness.main_job import plot_results

    with tempfile.TemporaryDirectory() as folder:
        path = plot_results(main_job_rows(), os.path.join(folder, "results.png"), "ml-100k, same split, seed 1")
        with open(path, "rb") as f:
            return f.read()


def main_job_markdown(page_path):
    from recbole_llmkd.harness.main_job import comparison_line, format_table

    rows = main_job_rows()
    up = "../" * page_path.count("/")
    runs = ", ".join(f"`{path}`" for path in EXAMPLE_RUNS)
    return (f"```text\n{format_table(rows)}\n\n{comparison_line(rows)}\n```\n\n"
            f"![The main job's plot: test metrics of both models side by side, and their seconds per epoch]"
            f"({up}{EXAMPLE_PLOT})\n\n"
            f"Drawn when this site is built, by the main job's own table and plot functions, from two runs "
            f"the benchmark made at the main job's budget and seed: {runs}. Your run's numbers will differ "
            f"by the few percent a single seed moves them (and its seconds by the machine).\n")


# ---- MkDocs events ---------------------------------------------------------------------------------

def on_page_markdown(markdown, page, config, files):
    if re.match(r"results/.+/tables\.md$", page.file.src_uri):
        # The reports' tables are mostly numbers and variant names: rank them below the prose pages.
        page.meta.setdefault("search", {"boost": 0.2})
    def replace(match):
        kind, argument = match.group(1), match.group(2) or ""
        if kind == "kd-keys":
            return kd_keys_markdown()
        if kind == "profile-options":
            return profile_options_markdown()
        if kind == "help":
            return help_markdown(argument)
        if kind == "file":
            return file_markdown(argument)
        if kind == "headline":
            return readme_headline(page.file.src_uri)
        if kind == "main-job-example":
            return main_job_markdown(page.file.src_uri)
        raise ValueError(f"{page.file.src_uri}: unknown generator <!-- gen:{kind} -->")

    return DIRECTIVE.sub(replace, markdown)


def on_page_content(html, page, config, files):
    """The docstrings are written with Sphinx roles (:func:`x`, :class:`~a.B`, ``text::``), which
    mkdocstrings renders as Markdown: show them as Sphinx would, the role dropped, ``~a.B`` as ``B``."""
    if page.file.src_uri != "reference/api.md":
        return html
    html = re.sub(r":(?:func|class|mod|meth|data|attr|exc):(<code>)", r"\1", html)
    html = re.sub(r"<code>~(?:[\w.]+\.)?(\w+)</code>", r"<code>\1</code>", html)
    return re.sub(r"(\w)::(</p>)", r"\1:\2", html)


def on_files(files, config):
    """Publish results/ (reports, text outputs, plots) under results/ of the site, and the main job's
    example plot."""
    from mkdocs.structure.files import File  # here, so that tests/test_docs.py can import this file without mkdocs

    files.append(File.generated(config, EXAMPLE_PLOT, content=main_job_plot()))
    source = os.path.join(ROOT, "results")
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != "runs")
        for name in sorted(names):
            if name.endswith(RESULT_SUFFIXES):
                relative = os.path.relpath(os.path.join(folder, name), ROOT)
                files.append(File(relative, ROOT, config["site_dir"], config["use_directory_urls"]))
    return files


def _escape(text):
    """Text for a Markdown table cell: pipes escaped, and <...> shown, not read as HTML."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
