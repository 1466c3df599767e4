"""The llama.cpp backend: its decoding rule (runs everywhere) and, where the optional
llama-cpp-python is installed, the packaged SmolLM2 through it (skipped otherwise: CI does not build it)."""

import sys

import numpy as np
import pytest
import torch

from recbole_llmkd.profiles.backends.llama_cpp_backend import apply_repetition_penalty, choose_token
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.history import build_histories, load_tables
from recbole_llmkd.profiles.prompts import PromptBuilder


@pytest.mark.parametrize("penalty", [1.0, 1.1, 1.5])
def test_repetition_penalty_is_transformers(penalty):
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    logits = np.random.default_rng(0).normal(size=50).astype(np.float32)
    seen = {0, 3, 3, 7, 49}
    theirs = RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor([[0, 3, 3, 7, 49]]), torch.tensor(logits[None]))
    assert np.allclose(apply_repetition_penalty(logits.copy(), seen, penalty), theirs.numpy()[0])


def test_choose_token():
    logits = np.array([0.1, 2.0, 1.9, -1.0])
    assert choose_token(logits) == 1
    draws = [choose_token(logits, True, 1.0, 0.95, np.random.default_rng(s)) for s in range(200)]
    assert set(draws) <= {0, 1, 2} and draws.count(1) > draws.count(0)  # p ≈ .47, .43, .07, .02: token 3 is outside top-p 0.95
    assert [choose_token(logits, True, 1.0, 1e-6, np.random.default_rng(s)) for s in range(5)] == [1] * 5
    again = [choose_token(logits, True, 0.7, 0.9, np.random.default_rng(3)) for _ in range(3)]
    assert len(set(again)) == 1  # a seed gives the same draw


def test_without_llama_cpp_the_error_says_how_to_install(monkeypatch):
    from recbole_llmkd.profiles.backends import make_backend

    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ImportError, match=r"backend 'llama_cpp' needs llama-cpp-python: pip install "
                                          r"llama-cpp-python==0\.3\.36 \(builds llama\.cpp from source"):
        make_backend(load_config(backend="llama_cpp"))


@pytest.mark.parametrize("overrides, message", [
    ({"backend": "llama"}, r"backend must be one of \['transformers', 'llama_cpp', 'openai'\], got 'llama'"),
    ({"threads": 0}, r"option 'threads' is 0; expected a number >= 1"),
])
def test_bad_options(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(**overrides)


# -- the real model through llama.cpp ------------------------------------------------------------

@pytest.fixture(scope="module")
def prompts():
    config = load_config()
    inter, item, _ = load_tables(config)
    builder = PromptBuilder(config.style, config.domain)
    return [builder.profile(h.lines) for h in build_histories(inter, item, config)[:4]]


@pytest.fixture(scope="module")
def llama_backend():
    pytest.importorskip("llama_cpp")
    from recbole_llmkd.profiles.backends import make_backend

    backend = make_backend(load_config(backend="llama_cpp", max_new_tokens=16, batch_size=4, threads=2))
    yield backend
    backend.close()


@pytest.mark.llm
def test_same_prompt_tokens_as_transformers(llama_backend, prompts):
    from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

    reference = TransformersBackend()
    assert [llama_backend.count_messages(m) for m in prompts] == [reference.count_messages(m) for m in prompts]
    assert llama_backend.render(prompts[0]) == reference.render(prompts[0])
    assert llama_backend.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf@llama.cpp"


@pytest.mark.llm
def test_sequences_do_not_see_each_other_and_runs_repeat(llama_backend, prompts):
    """Two copies of a prompt in one batch decode to the same text (no sequence attends to another's
    cells), and the same batch gives the same texts twice. (A different batch composition may change a
    text: llama.cpp's kernels round differently for different numbers of rows.)"""
    pair = llama_backend.generate([prompts[0], prompts[0], prompts[1]])
    assert pair[0].text == pair[1].text != pair[2].text
    together = llama_backend.generate(prompts)
    assert [g.text for g in together] == [g.text for g in llama_backend.generate(prompts)]
    assert all(g.text and 0 < g.output_tokens <= 16 and g.error is None for g in together)
    assert [g.prompt_tokens for g in together] == [llama_backend.count_messages(m) for m in prompts]


@pytest.mark.llm
def test_more_users_than_parallel_sequences_run_in_groups(llama_backend, prompts):
    llama_backend.parallel, before = 2, llama_backend.parallel
    try:
        grouped = llama_backend.generate(prompts[:3])
    finally:
        llama_backend.parallel = before
    # groups of 2 and 1: the same texts as those two batches on their own
    assert [g.text for g in grouped] == [g.text for g in llama_backend.generate(prompts[:2])] + \
        [llama_backend.generate(prompts[2:3])[0].text]


@pytest.mark.llm
def test_a_prompt_longer_than_the_context_is_refused(llama_backend, prompts):
    with pytest.raises(ValueError, match=r"a prompt of \d+ tokens plus max_new_tokens=16 exceeds context_length=2048 "
                                         r"of the llama_cpp backend"):
        llama_backend.generate([[{"role": "user", "content": "movie " * 2100}]])


@pytest.mark.llm
def test_min_new_tokens_masks_the_end(llama_backend, prompts):
    llama_backend.min_new_tokens = 16
    try:
        (result,) = llama_backend.generate(prompts[:1])
    finally:
        llama_backend.min_new_tokens = 0
    assert result.output_tokens == 16
