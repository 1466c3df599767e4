"""``reduce``: embeddings -> ``n_components`` dims with UMAP, PCA, or nothing.

The reducer is fitted on the training users (every profiled user: profiles read only training
interactions) and saved (``reducer.pkl``), so users added later are transformed by the same map:
set ``reducer_file`` to apply a saved reducer instead of fitting one.

Trust boundary: a fitted UMAP can only be saved as a pickle, and unpickling runs code. A saved
reducer therefore carries an HMAC-SHA256 of its bytes under a secret key kept on this machine
(``~/.config/recbole_llmkd/reducer.key``, mode 0600, created on first use; ``RECBOLE_LLMKD_KEY_FILE``
moves it). ``reducer_file`` loads only files whose signature matches that key: files this pipeline
wrote here, or where the key was copied. Anything else is refused before it is unpickled, unless
``trust_reducer_file`` says the user vouches for it.
"""

import hashlib
import hmac
import os
import pickle
import secrets
import time

import numpy as np

from recbole_llmkd.formats.files import atomic_open
from recbole_llmkd.profiles.embed import embeddings_path, load_matrix, save_matrix


class IdentityReducer:
    """``reducer: none``: the embeddings unchanged."""

    n_components_ = None

    def fit_transform(self, x):
        return np.asarray(x)

    def transform(self, x):
        return np.asarray(x)


def make_reducer(config, n_samples):
    if config.reducer == "none":
        return IdentityReducer()
    if config.n_components >= n_samples:
        raise ValueError(f"n_components={config.n_components} must be below the number of users ({n_samples})")
    if config.reducer == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=config.n_components, random_state=config.random_state)
    if config.reducer == "umap":
        import umap

        return umap.UMAP(n_components=config.n_components, n_neighbors=config.n_neighbors,
                         min_dist=config.min_dist, metric=config.metric, random_state=config.random_state,
                         n_jobs=1)  # a fixed random_state makes UMAP single-threaded anyway
    raise ValueError(f"reducer must be one of umap, pca, none; got {config.reducer!r}")


def reduced_path(config):
    return os.path.join(config.out, "reduced.npz")


def reducer_path(config):
    return os.path.join(config.out, "reducer.pkl")


MAGIC = b"recbole-llmkd reducer v1 hmac-sha256 "


def signing_key():
    """This machine's secret key for reducer files (created on first use, readable by its owner only)."""
    path = os.environ.get("RECBOLE_LLMKD_KEY_FILE") or os.path.join(
        os.path.expanduser("~"), ".config", "recbole_llmkd", "reducer.key")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_open(path, "wb") as f:
            os.chmod(f.name, 0o600)
            f.write(secrets.token_bytes(32))
    with open(path, "rb") as f:
        return f.read()


def _signature(data):
    return hmac.new(signing_key(), data, hashlib.sha256).hexdigest().encode()


def save_reducer(reducer, path):
    data = pickle.dumps(reducer)
    with atomic_open(path, "wb") as f:
        f.write(MAGIC + _signature(data) + b"\n" + data)


def load_reducer(path, trusted=False):
    """The reducer saved in ``path``; refused before unpickling unless this machine's key signed it
    (or ``trusted``: the user vouches for the file)."""
    with open(path, "rb") as f:
        raw = f.read()
    head, newline, data = raw.partition(b"\n")
    signed = raw.startswith(MAGIC) and newline
    if signed and hmac.compare_digest(head[len(MAGIC):], _signature(data)):
        return _unpickle_reducer(path, data)
    if not trusted:
        why = ("its signature does not match this machine's key (written elsewhere, or modified)" if signed
               else "it is not a reducer file written by this pipeline")
        raise ValueError(
            f"reducer_file {path}: refused to load: {why}. Loading a pickle runs code; set "
            "trust_reducer_file (--trust-reducer-file) only for a file you trust"
        )
    return _unpickle_reducer(path, data if signed else raw)


def _unpickle_reducer(path, data):
    """The reducer pickled in ``data``; a file that is not a pickle (a text file, a truncated copy, a
    class this installation lacks) or holds no ``transform`` is one ValueError naming ``path``."""
    try:
        reducer = pickle.loads(data)
    except Exception as error:  # pickle raises anything its opcodes reach: UnpicklingError, EOFError, ImportError...
        raise ValueError(f"reducer_file {path}: not a pickled reducer ({type(error).__name__}: "
                         f"{str(error)[:200]}); expected the reducer.pkl a reduce step wrote") from None
    if not callable(getattr(reducer, "transform", None)):
        raise ValueError(f"reducer_file {path}: holds a {type(reducer).__name__}, not a fitted reducer (no "
                         "transform method); expected the reducer.pkl a reduce step wrote")
    return reducer


def run_reduce(config):
    users, embeddings = load_matrix(embeddings_path(config), "embed")
    started = time.perf_counter()
    if config.reducer_file:
        reducer = load_reducer(config.reducer_file, trusted=config.trust_reducer_file)
        reduced = reducer.transform(embeddings)
        fitted = False
    else:
        reducer = make_reducer(config, len(users))
        reduced = reducer.fit_transform(embeddings)
        save_reducer(reducer, reducer_path(config))
        fitted = True
    seconds = time.perf_counter() - started
    reduced = np.asarray(reduced, dtype=np.float32)
    save_matrix(reduced_path(config), users, reduced)
    return {"users": len(users), "input_dims": int(embeddings.shape[1]), "dims": int(reduced.shape[1]),
            "reducer": config.reducer if not config.reducer_file else f"file:{config.reducer_file}",
            "fitted": fitted, "seconds": round(seconds, 2)}
