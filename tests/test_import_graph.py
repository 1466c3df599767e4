"""The package's layers (issue 34, item 3), read from the source with ``ast``: every import, at the
top of a module or inside a function, between modules of the package.

From the bottom: the shared data formats (``formats/``), the method (the models, the trainer, the
dataset, ``kd_settings``, ``fast_path``), the RecBole integration (``integration/``), the teacher
(``profiles/``), the harness (``harness/``), and the package's face (its ``__init__``, the public name
``quick_start`` and ``config``, the old name that checkpoints pickle KDConfig under). A module imports its own layer and the ones
below, never one above; and no chain of imports comes back to where it started."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "recbole_llmkd"
SHIMS = ("config", "quick_start")  # re-exports: old checkpoints' KDConfig path; the public entry-point name
LAYERS = [  # bottom first: (name, module prefixes)
    ("formats", ("formats", "version", "user_errors")),
    ("method", ("kd_settings", "model", "trainer", "dataset", "fast_path")),
    ("integration", ("integration",)),
    ("teacher", ("profiles",)),
    ("harness", ("harness",)),
    ("face", ("", *SHIMS)),
]


def modules():
    """``{module name: path}`` of every module of the package."""
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def imports(path, known):
    """The package's modules that the module at ``path`` imports (``from a import b`` counts as ``a.b``
    when ``b`` is a module)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(known)
            names |= submodules or {node.module}
    return {name for name in names if name in known}


def layer(module):
    rest = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if rest == prefix or (prefix and rest.startswith(prefix + ".")):
                return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


GRAPH = {module: imports(path, modules()) - {module} for module, path in modules().items()}


def test_the_scan_sees_the_imports():
    assert "recbole_llmkd.integration.config" in GRAPH["recbole_llmkd.integration.registry"]
    assert "recbole_llmkd.formats.profile_file" in GRAPH["recbole_llmkd.dataset"]
    assert len(GRAPH) > 50


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_higher_layer(module):
    above = {other: LAYERS[layer(other)][0] for other in GRAPH[module] if layer(other) > layer(module)}
    assert not above, f"{module} ({LAYERS[layer(module)][0]}) imports {above}"


def test_no_import_circle():
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for other in sorted(GRAPH[module]):
            if state.get(other) == "open":
                raise AssertionError("import circle: " + " -> ".join(path[path.index(other):] + [other]))
            if other not in state:
                visit(other)
        path.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_method_and_the_formats_import_neither_the_teacher_nor_the_harness():
    low = [m for m in GRAPH if LAYERS[layer(m)][0] in ("formats", "method")]
    assert "recbole_llmkd.trainer" in low and "recbole_llmkd.formats.split" in low
    for module in low:
        assert not any(LAYERS[layer(o)][0] in ("teacher", "harness") for o in GRAPH[module]), module


def test_importing_a_module_patches_nothing_of_recboles():
    """The shims and the registration are applied by register() (and when a KDConfig is built),
    never at import: a fresh interpreter that imports every module leaves RecBole as it was."""
    import subprocess
    import sys

    code = (
        "import importlib, recbole.config, recbole.trainer.trainer as t, numpy as np\n"
        "before = (recbole.config.Config._load_internal_config_dict, recbole.config.Config._init_device, t.torch,\n"
        "          recbole.config.Config.__getstate__, 'float_' in np.__dict__)\n"
        f"for name in {sorted(m for m in GRAPH if '.profiles.backends' not in m and not m.endswith('__main__'))!r}:\n"
        "    importlib.import_module(name)\n"
        "after = (recbole.config.Config._load_internal_config_dict, recbole.config.Config._init_device, t.torch,\n"
        "         recbole.config.Config.__getstate__, 'float_' in np.__dict__)\n"
        "assert before == after, (before, after)\n"
        "import recbole_llmkd; recbole_llmkd.register()\n"
        "assert recbole.config.Config._init_device is not before[1] and 'float_' in np.__dict__\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
