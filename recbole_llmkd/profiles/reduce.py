"""``reduce``: embeddings -> ``n_components`` dims with UMAP, PCA, or nothing.

The reducer is fitted on the training users (every profiled user: profiles read only training
interactions) and saved (``reducer.pkl``), so users added later are transformed by the same map:
set ``reducer_file`` to apply a saved reducer instead of fitting one.
"""

import os
import pickle
import time

import numpy as np

from recbole_llmkd.profiles.atomic import atomic_open
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


def save_reducer(reducer, path):
    with atomic_open(path, "wb") as f:
        pickle.dump(reducer, f)


def load_reducer(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def run_reduce(config):
    users, embeddings = load_matrix(embeddings_path(config), "embed")
    started = time.perf_counter()
    if config.reducer_file:
        reducer = load_reducer(config.reducer_file)
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
