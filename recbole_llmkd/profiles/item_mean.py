"""``item_mean``: a teacher without an LLM, the mean sentence embedding of a user's training items.

Each item's text (the same ``item_fields`` the LLM prompts show, e.g. ``Toy Story | 1995 |
Animation, Children's, Comedy``) is embedded once with the pipeline's sentence encoder; a user's
vector is the mean of the embeddings of the items in their training history (the same items the
LLM's prompt lists: the most recent ``max_items`` when it is set), L2-normalised. The result is
written to ``embeddings.npz`` like the embed step's output, so ``reduce`` and ``write`` turn it into
a ``.user`` file exactly as they do the LLM profiles:

    python -m recbole_llmkd.profiles all -d ml-100k --source item_mean --output-dir output/profiles/ml-100k-items

It costs seconds to minutes where generation costs hours; if it does as well as the LLM profiles,
the LLM is not worth its cost for that dataset.
"""

import time

import numpy as np

from recbole_llmkd.profiles.embed import embeddings_path, load_encoder, encoder_name, save_matrix
from recbole_llmkd.profiles.history import item_texts, load_tables, training_cut, user_sort_key
from recbole_llmkd.formats.split import training_interactions


def user_item_lists(inter, config):
    """``{user: [item, ...]}``: each user's training items, oldest first, the last ``max_items`` kept."""
    train = training_interactions(inter, config.user_field, config.time_field, config.holdout,
                                  config.normalized_time, cut_time=training_cut(inter, config))
    lists = {}
    for user, item in zip(train[config.user_field].astype(str), train[config.item_field].astype(str)):
        lists.setdefault(user, []).append(item)
    if config.max_items:
        lists = {u: items[-config.max_items:] for u, items in lists.items()}
    return lists


def run_item_mean(config, encoder=None, progress=True, selected_only=False):
    """Embed the items, average per user, write ``embeddings.npz``; returns a summary.
    ``selected_only``: only the users of ``shard`` and ``limit_users``, as ``generate`` selects them."""
    inter, item, _ = load_tables(config)
    if item is None:
        raise FileNotFoundError(f"dataset {config.dataset!r} has no .item file: item_mean needs item texts")
    texts = item_texts(item, config)
    lists = user_item_lists(inter, config)
    if selected_only:
        from recbole_llmkd.profiles.generate import select_user_ids

        chosen = set(select_user_ids(sorted(lists, key=user_sort_key), config))
        lists = {u: items for u, items in lists.items() if u in chosen}
    used = sorted({i for items in lists.values() for i in items})
    model, name = encoder if encoder is not None else load_encoder(config.encoder, config.device)
    started = time.perf_counter()
    vectors = model.encode([texts.get(i) or f"item {i}" for i in used], batch_size=config.embed_batch_size,
                           normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress)
    row = {item_id: r for r, item_id in enumerate(used)}
    users = sorted(lists, key=user_sort_key)
    means = np.stack([vectors[[row[i] for i in lists[u]]].mean(axis=0) for u in users])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    save_matrix(embeddings_path(config), users, means)
    seconds = time.perf_counter() - started
    return {"users": len(users), "items_embedded": len(used), "items_without_text": sum(not texts.get(i) for i in used),
            "dims": int(means.shape[1]), "encoder": encoder_name(name), "max_items": config.max_items,
            "seconds": round(seconds, 2)}
