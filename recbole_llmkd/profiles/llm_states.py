"""Teachers read from the LLM's own hidden states: one forward pass per text, no decoding.

Generated profiles pass what the LLM knows through a few dozen tokens of text and a sentence
encoder; LLM-ESR and LLMEmb instead take the LLM's representations themselves. Two sources do that
here, with the pipeline's LLM (default: the packaged SmolLM2-135M-Instruct, through ``transformers``):

* ``llm_states``: the hidden states of layer ``state_layer`` over the user's history prompt (the
  very prompt ``generate`` would send: chat template, system and instruction, the most recent
  ``max_items`` training items), pooled by ``state_pooling``: ``mean`` over the prompt's tokens, or
  ``last``, the state at the last prompt token, where the model is about to write the profile;
* ``llm_item_mean``: each training item's text (``item_fields``, as the prompts show them) read by
  the LLM and pooled the same way; a user's vector is the mean over their training items (the
  :mod:`~recbole_llmkd.profiles.item_mean` teacher with the LLM as its encoder).

Both write ``embeddings.npz`` like the embed step, so ``reduce`` and ``write`` turn them into a
``.user`` file as they do the generated profiles::

    python -m recbole_llmkd.profiles all -d ml-100k --source llm_states --state-pooling last \\
        --output-dir output/profiles/ml-100k-states-last

Vectors are cached in ``states.jsonl`` by (user or item, hash of the text, design), the design
naming the model, dtype, layer and pooling, so a changed prompt or setting is read again and an
unchanged one never is. Only training interactions are read (the shared split rule).
"""

import os
import time

import numpy as np

from recbole_llmkd.profiles.cache import JsonlCache
from recbole_llmkd.profiles.embed import EMBEDDING_KEY, embeddings_path, save_matrix
from recbole_llmkd.profiles.prompts import stable_hash

POOLINGS = ("mean", "last")
CACHE_BLOCK = 64  # texts between cache appends: a kill loses at most one block


def design_id(backend, layer, pooling):
    """The cache key's design: which model, in which dtype, read at which layer, pooled how."""
    return f"{backend.model_id}:{backend.dtype}:layer{layer}:{pooling}"


class StateReader:
    """Runs the LLM over a text once and keeps the pooled states of the layers asked for, so several
    designs (layers, poolings) over the same texts cost one forward pass each text. Each text runs
    alone (no padding, the causal fast path); a text longer than the model's context keeps its last
    tokens."""

    def __init__(self, backend, layers=(-1,)):
        self.backend = backend
        self.n_layers = backend.model.config.num_hidden_layers
        self.layers = tuple(layers)
        self._memo = {}

    def check_layer(self, layer):
        n = self.n_layers
        if isinstance(layer, bool) or not isinstance(layer, int) or not -(n + 1) <= layer <= n:
            raise ValueError(f"option 'state_layer' is {layer!r}; the model has {n} blocks, so expected a "
                             f"whole number in [{-(n + 1)}, {n}] (-1 = the last block, 0 = the token embeddings)")
        if layer not in self.layers:
            self.layers += (layer,)
            self._memo.clear()

    def pooled(self, text):
        """``{(layer, pooling): vector}`` of ``text`` for every layer this reader keeps."""
        key = stable_hash(text)
        if key not in self._memo:
            import torch

            ids = self.backend.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            ids = ids[:, -self.backend.context_length:].to(self.backend.device)
            with torch.inference_mode():
                out = self.backend.model(input_ids=ids, output_hidden_states=True, use_cache=False)
            pooled = {}
            for layer in self.layers:
                states = out.hidden_states[layer][0].float()
                pooled[(layer, "mean")] = states.mean(dim=0).cpu().numpy()
                pooled[(layer, "last")] = states[-1].cpu().numpy()
            self._memo[key] = pooled
        return self._memo[key]


class HiddenStateEncoder:
    """``encode(texts)`` like a sentence-transformers model: one vector per text, the hidden states
    of layer ``layer`` (-1 = the last block's output; 0 = the token embeddings) pooled over the
    text's tokens by ``pooling`` (``mean`` or ``last``), L2-normalised."""

    def __init__(self, reader, layer=-1, pooling="mean"):
        if pooling not in POOLINGS:
            raise ValueError(f"option 'state_pooling' is {pooling!r}; expected one of {list(POOLINGS)}")
        reader.check_layer(layer)
        self.reader, self.layer, self.pooling = reader, layer, pooling

    @property
    def backend(self):
        return self.reader.backend

    @property
    def design(self):
        return design_id(self.backend, self.layer, self.pooling)

    def encode(self, texts, batch_size=None, normalize_embeddings=True, convert_to_numpy=True,
               show_progress_bar=False):
        from tqdm import tqdm

        vectors = np.stack([self.reader.pooled(t)[(self.layer, self.pooling)]
                            for t in tqdm(texts, disable=not show_progress_bar, unit="text")])
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)


def load_state_encoder(config, reader=None):
    """The :class:`HiddenStateEncoder` of ``config``: the transformers backend with its model and
    dtype, or ``reader``'s (share one reader between designs over the same texts)."""
    if reader is None:
        from recbole_llmkd.profiles.backends import resolve_dtype
        from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

        backend = TransformersBackend(model=config.model, device=config.device,
                                      dtype=resolve_dtype(config.dtype, config.device)[0],
                                      context_length=config.context_length)
        reader = StateReader(backend, (config.state_layer,))
    return HiddenStateEncoder(reader, config.state_layer, config.state_pooling)


def cached_encode(encoder, cache_path, keyed_texts, progress=True):
    """``{key: vector}`` for ``keyed_texts`` (``[(key, text)]``), read from / appended to the cache."""
    cache = JsonlCache(cache_path, EMBEDDING_KEY)
    cached = cache.read()
    wanted = [(key, (key, stable_hash(text), encoder.design), text) for key, text in keyed_texts]
    todo = [entry for entry in wanted if entry[1] not in cached]
    for start in range(0, len(todo), CACHE_BLOCK):
        block = todo[start:start + CACHE_BLOCK]
        vectors = encoder.encode([text for _, _, text in block], show_progress_bar=progress)
        records = [{"user": cache_key[0], "text_hash": cache_key[1], "encoder": cache_key[2],
                    "vector": [float(v) for v in vector]} for (_, cache_key, _), vector in zip(block, vectors)]
        cache.append(records)
        cached.update({cache.key(r): r for r in records})
    return {key: np.asarray(cached[cache_key]["vector"], dtype=np.float32) for key, cache_key, _ in wanted}, len(todo)


def run_llm_states(config, encoder=None, progress=True):
    """The user-side design: every selected user's history prompt read by the LLM; writes ``embeddings.npz``."""
    from recbole_llmkd.profiles.generate import select_users
    from recbole_llmkd.profiles.history import build_histories, load_tables
    from recbole_llmkd.profiles.prompts import PromptBuilder

    encoder = encoder or load_state_encoder(config)
    inter, item, _ = load_tables(config)
    histories = select_users(build_histories(inter, item, config), config)
    prompts = PromptBuilder(config.style, config.domain, config.template_file)
    texts = [(h.user, encoder.backend.render(prompts.profile(h.lines))) for h in histories]
    started = time.perf_counter()
    vectors, computed = cached_encode(encoder, os.path.join(config.out, "states.jsonl"), texts, progress)
    users = [user for user, _ in texts]
    save_matrix(embeddings_path(config), users, np.stack([vectors[u] for u in users]))
    return {"users": len(users), "computed": computed, "cached": len(users) - computed, "design": encoder.design,
            "dims": int(len(vectors[users[0]])) if users else 0, "max_items": config.max_items,
            "prompt_tokens_mean": round(float(np.mean([encoder.backend.count_text(t) for _, t in texts])), 1)
            if texts else 0, "seconds": round(time.perf_counter() - started, 2)}


def run_llm_item_mean(config, encoder=None, progress=True):
    """The item-side design: :func:`~recbole_llmkd.profiles.item_mean.run_item_mean` with the LLM's
    pooled hidden states as the item encoder (the selected users only)."""
    from recbole_llmkd.profiles.item_mean import run_item_mean

    encoder = encoder or load_state_encoder(config)
    cached = CachedItemEncoder(encoder, os.path.join(config.out, "states.jsonl"), progress)
    summary = run_item_mean(config, encoder=(cached, encoder.design), progress=progress, selected_only=True)
    return {**summary, "design": encoder.design, "items_computed": cached.computed}


class CachedItemEncoder:
    """An ``encode(texts)`` for :func:`run_item_mean` that goes through the states cache (keyed by text)."""

    def __init__(self, encoder, cache_path, progress):
        self.encoder, self.cache_path, self.progress, self.computed = encoder, cache_path, progress, 0

    def encode(self, texts, **_):
        keyed = [(stable_hash(t), t) for t in texts]
        vectors, computed = cached_encode(self.encoder, self.cache_path, keyed, self.progress)
        self.computed += computed
        return np.stack([vectors[key] for key, _ in keyed])
