"""The real packaged SmolLM2-135M-Instruct (GGUF) through transformers; deselect with -m "not llm"."""

import copy
import os

import pytest

from recbole_llmkd.profiles.cache import read_records
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.generate import (
    generations_path, keyed_histories, prompt_settings, run_generate, shipped_caches,
)
from recbole_llmkd.profiles.history import build_histories, load_tables
from recbole_llmkd.profiles.prompts import PromptBuilder
from tests.dataset_converters.test_amazon_beauty import BEAUTY

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def ml100k_backend():
    """SmolLM2 configured exactly as the ml-100k defaults (those of the shipped profiles)."""
    from recbole_llmkd.profiles.backends import make_backend

    backend = make_backend(load_config())
    assert backend._model is None  # weights load on first use
    backend.model, backend.tokenizer  # load now, so that the copies below share them
    return backend


@pytest.fixture
def short_backend(ml100k_backend):
    """The same loaded model, answering in at most 12 tokens (fast)."""
    backend = copy.copy(ml100k_backend)
    backend.generation = {**ml100k_backend.generation, "max_new_tokens": 12}
    return backend


def test_packaged_model_and_its_chat_template(ml100k_backend):
    assert ml100k_backend.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert ml100k_backend.context_length == 8192
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert ml100k_backend.render(messages) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert ml100k_backend.count_messages(messages) == len(
        ml100k_backend.tokenizer(ml100k_backend.render(messages), add_special_tokens=False)["input_ids"])


def test_batched_generation_with_left_padding(short_backend):
    prompts = PromptBuilder()
    batch = [prompts.profile(["Alien | 1979 | Horror, Sci-Fi | rated 5/5"]),
             prompts.profile([f"Movie {i} | 199{i} | Comedy | rated 4/5" for i in range(8)])]
    results = short_backend.generate(batch)
    assert [r.prompt_tokens for r in results] == [short_backend.count_messages(m) for m in batch]
    assert all(r.text and 0 < r.output_tokens <= 12 and r.error is None for r in results)
    # greedy: the short prompt gives the same text alone as when padded in a batch
    assert short_backend.generate(batch[:1])[0].text == results[0].text


def test_generates_profiles_for_ml100k_users(short_backend, tmp_path):
    config = load_config(output_dir=str(tmp_path), limit_users=3, batch_size=3, max_new_tokens=12, regenerate=True)
    summary = run_generate(config, backend=short_backend, progress=False)
    assert (summary["generated"], summary["failed"], summary["calls"]) == (3, 0, 3)
    assert 0 < summary["output_tokens"] <= 36 and summary["prompt_tokens"] > 3 * 300
    records = read_records(generations_path(config))
    assert sorted(r["user"] for r in records) == ["1", "2", "3"] and all(r["profile"] for r in records)


def shipped_coverage(config, backend):
    """``(users, users whose current prompt key is in the dataset's shipped cache)``."""
    [path] = shipped_caches(config)
    shipped = {(r["user"], r["prompt_hash"], r["model"]) for r in read_records(path)}
    _, keyed = keyed_histories(config, backend)  # the keys generate looks up
    keys = {(h.user, key, backend.model_id) for h, key in keyed}
    return len(keys), len(keys & shipped)


def test_shipped_cache_covers_every_ml100k_user_under_the_current_prompts(ml100k_backend):
    """Guards the shipped profiles: any change to history lines, templates or generation options
    that would regenerate them fails here first."""
    assert shipped_coverage(load_config(), ml100k_backend) == (943, 943)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(BEAUTY), reason="../shared/data/amazon-beauty-5core is not present")
def test_shipped_cache_covers_every_beauty_user_under_the_current_prompts(tmp_path):
    """The same guard for the shipped Beauty profiles (int8 SmolLM2), on the converter's output."""
    from dataset_converters import convert
    from recbole_llmkd.profiles.backends import make_backend

    convert("beauty", BEAUTY, tmp_path)
    config = load_config(dataset="beauty", data_path=str(tmp_path))
    assert config.dtype == "int8" and config.shipped_cache == ["beauty-smollm2-short-int8.jsonl.gz"]
    backend = make_backend(config)  # the prompt key needs the backend's settings, not its weights
    assert shipped_coverage(config, backend) == (22363, 22363)
    assert backend._model is None


@pytest.fixture(scope="module")
def ml100k_prompts():
    """Three real ml-100k prompts of different lengths (so the batch is left-padded)."""
    config = load_config()
    inter, item, _ = load_tables(config)
    histories = build_histories(inter, item, config)
    prompts = PromptBuilder(config.style, config.domain)
    return [prompts.profile(histories[i].lines[-n:]) for i, n in ((0, 30), (1, 12), (2, 5))]


def test_per_prompt_prefill_gives_the_batched_prefill_text_in_float32(short_backend, ml100k_prompts):
    per_prompt = copy.copy(short_backend)
    batched = copy.copy(short_backend)
    per_prompt.prefill, batched.prefill = "per_prompt", "batched"
    assert [r.text for r in per_prompt.generate(ml100k_prompts)] == [r.text for r in batched.generate(ml100k_prompts)]


def test_per_prompt_prefill_cache_is_left_padded(short_backend, ml100k_prompts):
    import torch

    texts = [short_backend.render(m) for m in ml100k_prompts]
    inputs = short_backend.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    with torch.inference_mode():
        cache = short_backend.prefill_each(inputs["input_ids"], inputs["attention_mask"])
    model_config = short_backend.model.config
    assert len(cache.layers) == model_config.num_hidden_layers
    keys = cache.layers[0].keys
    width = max(lengths) - 1  # every prompt but its last token, which generate reads
    assert tuple(keys.shape) == (3, model_config.num_key_value_heads, width,
                                 model_config.hidden_size // model_config.num_attention_heads)
    for row, length in enumerate(lengths):
        padding = width - (length - 1)
        assert not keys[row, :, :padding].any() and keys[row, :, padding:].abs().sum(dim=-1).all()


def test_int8_backend_quantises_every_linear_layer_and_is_its_own_teacher(ml100k_backend, ml100k_prompts):
    import torch

    from recbole_llmkd.profiles.backends import make_backend

    backend = make_backend(load_config(dtype="int8", max_new_tokens=12))
    model_config = backend.model.config
    quantised = [m for m in backend.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    # q, k, v, o, gate, up, down in every layer, and the lm head
    assert len(quantised) == 7 * model_config.num_hidden_layers + 1 == 211
    assert not any(type(m) is torch.nn.Linear for m in backend.model.modules())
    results = backend.generate(ml100k_prompts)
    assert all(r.text and 0 < r.output_tokens <= 12 and r.error is None for r in results)
    assert [r.prompt_tokens for r in results] == [ml100k_backend.count_messages(m) for m in ml100k_prompts]
    config = load_config()
    prompts = PromptBuilder(config.style, config.domain)
    assert prompt_settings(prompts, backend, config)["generation"]["dtype"] == "int8"
    assert prompt_settings(prompts, backend, config) != prompt_settings(prompts, ml100k_backend, config)


@pytest.mark.parametrize("dtype, device, message", [
    ("int4", "cpu", r"dtype must be one of \['bfloat16', 'float16', 'float32', 'int8'\], got 'int4'"),
    ("int8", "cuda", r"dtype 'int8' \(dynamic int8 linear layers\) runs on the CPU only, not on device 'cuda'"),
])
def test_bad_dtype_is_named(dtype, device, message):
    from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

    with pytest.raises(ValueError, match=message):
        TransformersBackend(dtype=dtype, device=device)


def test_reserved_layer_writes_new_positions_in_place_and_grows_when_full():
    import torch

    from recbole_llmkd.profiles.backends.transformers_backend import ReservedLayer

    short = torch.arange(1 * 2 * 2 * 3, dtype=torch.float32).reshape(1, 2, 2, 3)
    long = 100 + torch.arange(1 * 2 * 4 * 3, dtype=torch.float32).reshape(1, 2, 4, 3)
    layer = ReservedLayer.left_padded([(short, -short), (long, -long)], width=4, room=2)
    assert tuple(layer.keys.shape) == (2, 2, 4, 3) and tuple(layer.key_buffer.shape) == (2, 2, 6, 3)
    assert torch.equal(layer.keys[0, :, :2], torch.zeros(2, 2, 3)) and torch.equal(layer.keys[0, :, 2:], short[0])
    assert torch.equal(layer.keys[1], long[0]) and torch.equal(layer.values[1], -long[0])
    buffer = layer.key_buffer
    for step in range(3):  # two fit in the room, the third doubles the buffer
        new = torch.full((2, 2, 1, 3), float(step + 1))
        keys, values = layer.update(new, -new, 0)
        assert tuple(keys.shape) == (2, 2, 5 + step, 3) and layer.get_seq_length() == 5 + step
        assert torch.equal(keys[:, :, -1:], new) and torch.equal(values[:, :, -1:], -new)
        assert torch.equal(keys[1, :, :4], long[0])
    assert layer.key_buffer.shape[2] == 12 and buffer.shape[2] == 6
    assert keys.data_ptr() == layer.key_buffer.data_ptr()  # a view of the buffer, not a copy


def test_unknown_prefill_is_named():
    from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

    with pytest.raises(ValueError, match=r"prefill must be one of \['per_prompt', 'batched'\], got 'padded'"):
        TransformersBackend(prefill="padded")
