"""llm_states / llm_item_mean: the LLM's own hidden states as a teacher, on the toy dataset with the
real packaged SmolLM2 (one forward pass a text)."""

import json

import numpy as np
import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.profiles.embed import embeddings_path, load_matrix
from recbole_llmkd.profiles.llm_states import HiddenStateEncoder, StateReader, load_state_encoder
from recbole_llmkd.profiles.sources import build_profile_file

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def reader():
    from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

    return StateReader(TransformersBackend(), layers=(-1, 15))


def test_pooled_states_are_the_models_hidden_states(reader):
    import torch

    text = "Alien | 1979 | Horror, Sci-Fi"
    backend = reader.backend
    ids = backend.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        states = backend.model(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(states) == backend.model.config.num_hidden_layers + 1 == 31
    pooled = reader.pooled(text)
    np.testing.assert_allclose(pooled[(-1, "mean")], states[-1][0].mean(dim=0).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pooled[(15, "last")], states[15][0, -1].numpy(), rtol=1e-5, atol=1e-5)
    vectors = HiddenStateEncoder(reader, 15, "last").encode([text, text + " | Brazil"])
    assert vectors.shape == (2, 576) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


@pytest.mark.parametrize("layer, pooling, message", [
    (31, "mean", r"option 'state_layer' is 31; the model has 30 blocks, so expected a whole number in \[-31, 30\]"),
    (True, "mean", "option 'state_layer' is True"),
    (-1, "max", r"option 'state_pooling' is 'max'; expected one of \['mean', 'last'\]"),
])
def test_bad_designs(reader, layer, pooling, message):
    with pytest.raises(ValueError, match=message):
        HiddenStateEncoder(reader, layer, pooling)


@pytest.mark.parametrize("source", ["llm_states", "llm_item_mean"])
def test_source_writes_a_user_file_and_caches_by_design(toy_config, reader, source):
    config = toy_config(source=source, state_pooling="last", state_layer=15, reducer="pca", n_components=2)
    encoder = load_state_encoder(config, reader)
    step = {"llm_states": "run_llm_states", "llm_item_mean": "run_llm_item_mean"}[source]
    from recbole_llmkd.profiles import llm_states

    first = getattr(llm_states, step)(config, encoder=encoder, progress=False)
    assert first["design"] == "SmolLM2-135M-Instruct.Q4_1.gguf:float32:layer15:last"
    users, vectors = load_matrix(embeddings_path(config), source)
    assert users == ["u1", "u2", "u3"] and vectors.shape == (3, 576)
    with open(f"{config.out}/states.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    # one vector a text, keyed by design: the users' prompts, or the items they trained on
    expected = 3 if source == "llm_states" else 6
    assert len(records) == expected and {r["encoder"] for r in records} == {first["design"]}
    again = getattr(llm_states, step)(config, encoder=encoder, progress=False)
    computed = again["computed"] if source == "llm_states" else again["items_computed"]
    assert computed == 0
    np.testing.assert_array_equal(load_matrix(embeddings_path(config), source)[1], vectors)
    # another design reads the same texts again, under its own key
    other = toy_config(source=source, state_pooling="mean", state_layer=-1, reducer="pca", n_components=2)
    getattr(llm_states, step)(other, encoder=load_state_encoder(other, reader), progress=False)
    with open(f"{config.out}/states.jsonl", encoding="utf-8") as f:
        assert len(f.readlines()) == 2 * expected


def test_the_llm_states_source_builds_a_profile_file(toy_config):
    """Through the pipeline's one builder (the model loads itself): generate is never called."""
    config = toy_config(source="llm_states", limit_users=2, reducer="pca", n_components=1)
    summaries = build_profile_file(config, "llm_states", allow_generate=False, progress=False)
    assert list(summaries) == ["llm_states", "reduce", "write"] and summaries["llm_states"]["users"] == 2
    table, _ = read_atomic(config.user_path)
    assert table["user_id"].astype(str).tolist() == ["u1", "u2"]
