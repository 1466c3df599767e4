"""Every command-line flag of the package, the converters, the benchmarks and the scripts says what
it does in ``--help`` (a ``help=`` text, or ``**options`` that carry one, as the profile CLI's do)."""

import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = sorted(
    os.path.relpath(path, ROOT)
    for pattern in ("recbole_llmkd/**/*.py", "dataset_converters/*.py", "benchmarks/*.py", "*.py")
    for path in glob.glob(os.path.join(ROOT, pattern), recursive=True)
)


def flags_without_help(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    return [f"{path}:{node.lineno} {ast.unparse(node.args[0]) if node.args else ''}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"
            and not any(k.arg == "help" or k.arg is None for k in node.keywords)]


def test_the_scan_sees_the_command_lines():
    assert {"run_recbole_kd.py", "benchmarks/grid.py", "dataset_converters/__main__.py",
            "recbole_llmkd/profiles/cli.py"} <= set(SOURCES)


@pytest.mark.parametrize("path", SOURCES)
def test_every_flag_has_help(path):
    assert flags_without_help(path) == []
