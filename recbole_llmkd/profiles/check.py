"""``check``: does a profile file carry signal about its users' held-out items? Run it before training.

    python -m recbole_llmkd.profiles check -d ml-100k --user-file output/profiles/ml-100k/ml-100k.user

The test is a user-kNN recommender in profile space, evaluated on the validation targets (never
the test targets). Each profiled user's ``neighbours`` nearest users by cosine similarity of the
standardised profile vectors vote for the items they trained on; the user's own training items are
excluded, ties go to the globally more popular item, and the validation item's rank gives NDCG@10.
The same is done ``permutations`` times with the profile rows shuffled across users: that keeps
the distribution of the vectors and breaks their link to the users (it scores about like
popularity). The number printed is the **lift**, NDCG@10 with the real profiles over the mean with
shuffled ones, with a 95% bootstrap interval over users:

* lower bound above 1: the profiles carry signal about what the users do next;
* interval around 1: no signal this check can see; distilling toward them adds noise.

For scale it also prints the lift of neighbours found by shared training items (a classic user-kNN),
which uses the interactions themselves rather than a profile.

Training interactions and validation targets follow RecBole's leave-one-out order
(:mod:`recbole_llmkd.profiles.split`); only leave-one-out datasets are supported.
"""

import time

import numpy as np

from recbole_llmkd.profiles.history import load_tables
from recbole_llmkd.profiles.profile_file import read_profile_file
from recbole_llmkd.profiles.split import heldout_interactions, training_interactions

TOPK = 10


def read_profile_vectors(path, user_field="user_id", profile_field="profile_emb"):
    """``(users, matrix)``: the users with a non-empty, non-zero profile vector in ``path``."""
    table = read_profile_file(path, user_field, profile_field)
    present = table.present()
    return [u for u, p in zip(table.users, present) if p], table.vectors[present]


def _unit_rows(matrix):
    std = matrix.std(axis=0)
    z = (matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1.0)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.where(norms > 0, norms, 1.0)


def neighbour_lists(vectors, k, block=2048):
    """Indices [N, k] of each row's ``k`` most cosine-similar other rows (standardised vectors)."""
    return _top_neighbours(_unit_rows(vectors), k, block)


def interaction_neighbours(train_matrix, k, block=2048):
    """The same for the rows of the users × items training matrix (cosine of the item sets): the
    neighbours a classic user-kNN would use, the check's reference for scale."""
    from scipy import sparse

    norms = np.sqrt(np.asarray(train_matrix.multiply(train_matrix).sum(axis=1)).ravel())
    unit = sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ train_matrix
    return _top_neighbours(unit.tocsr(), k, block)


def _top_neighbours(unit, k, block):
    n = unit.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        sims = unit[start:start + block] @ unit.T
        sims = sims.toarray() if hasattr(sims, "toarray") else sims
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # not one's own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[start:start + block] = top
    return out


def knn_ndcg(neighbours, train_matrix, targets, popularity, block=2048):
    """Per-user NDCG@10 of the target item under neighbour voting; rows of ``neighbours`` and
    ``targets`` are aligned with the rows of ``train_matrix`` (a users × items CSR matrix)."""
    from scipy import sparse

    n_users, n_items = train_matrix.shape
    k = neighbours.shape[1]
    tie_break = popularity / (popularity.max() + 1.0)  # < 1: only breaks ties between vote counts
    ndcg = np.zeros(n_users)
    for start in range(0, n_users, block):
        rows = np.arange(start, min(start + block, n_users))
        votes = sparse.csr_matrix((np.ones(len(rows) * k), neighbours[rows].ravel(),
                                   np.arange(0, len(rows) * k + 1, k)), shape=(len(rows), n_users))
        scores = (votes @ train_matrix).toarray() + tie_break
        own = train_matrix[rows]
        scores[own.nonzero()] = -np.inf
        target_scores = scores[np.arange(len(rows)), targets[rows]]
        rank = (scores > target_scores[:, None]).sum(axis=1)  # 0 = first
        ndcg[rows] = np.where(rank < TOPK, 1.0 / np.log2(rank + 2.0), 0.0)
    return ndcg


def check_profiles(config, user_file=None, neighbours=50, permutations=10, bootstrap=1000, seed=0):
    """The check's numbers for ``user_file`` (default ``config.user_path``), as a dict."""
    from scipy import sparse

    if config.cut_quantile is not None:
        raise ValueError("check supports leave-one-out datasets only (cut_quantile is set)")
    path = user_file or config.user_path
    started = time.perf_counter()
    inter, _, _ = load_tables(config)
    train = training_interactions(inter, config.user_field, config.time_field, config.holdout,
                                  config.normalized_time)
    valid = heldout_interactions(inter, config.holdout - 1, config.user_field, config.time_field,
                                 config.normalized_time)
    profile_users, vectors = read_profile_vectors(path, config.user_field, config.profile_field)
    items = {item: i for i, item in enumerate(sorted(set(train[config.item_field].astype(str))))}
    targets_by_user = dict(zip(valid[config.user_field].astype(str), valid[config.item_field].astype(str)))
    train_users = set(train[config.user_field].astype(str))
    keep = [i for i, u in enumerate(profile_users) if u in train_users]
    if len(keep) <= neighbours:
        raise ValueError(f"{path}: {len(keep)} profiled users with training interactions; the check needs more "
                         f"than neighbours={neighbours}")
    users = [profile_users[i] for i in keep]
    vectors = vectors[keep]
    row_of = {u: r for r, u in enumerate(users)}
    pairs = train[train[config.user_field].astype(str).isin(row_of)]
    rows = pairs[config.user_field].astype(str).map(row_of).to_numpy()
    cols = pairs[config.item_field].astype(str).map(items).to_numpy()
    train_matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    train_matrix.data[:] = 1.0  # repeated interactions count once
    popularity = np.asarray((train_matrix > 0).sum(axis=0)).ravel().astype(float)
    # users whose validation item never occurs in training (no neighbour can vote for it) stay in the
    # mean with NDCG 0 under every profile, real or shuffled
    evaluated = np.array([targets_by_user.get(u) in items for u in users])
    targets = np.array([items.get(targets_by_user.get(u), 0) for u in users])
    real = knn_ndcg(neighbour_lists(vectors, neighbours), train_matrix, targets, popularity) * evaluated
    rng = np.random.default_rng(seed)
    shuffled = np.mean([knn_ndcg(neighbour_lists(vectors[rng.permutation(len(users))], neighbours), train_matrix,
                                 targets, popularity) * evaluated for _ in range(permutations)], axis=0)
    reference = knn_ndcg(interaction_neighbours(train_matrix, neighbours), train_matrix, targets, popularity) * evaluated
    lift = real.mean() / shuffled.mean() if shuffled.mean() > 0 else float("inf")
    samples = rng.integers(0, len(users), size=(bootstrap, len(users)))
    boot = real[samples].mean(axis=1) / np.maximum(shuffled[samples].mean(axis=1), 1e-12)
    low, high = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    return {"user_file": str(path), "users": len(users), "items": len(items), "neighbours": neighbours,
            "permutations": permutations, "ndcg@10": round(float(real.mean()), 5),
            "ndcg@10_shuffled": round(float(shuffled.mean()), 5), "lift": round(float(lift), 3),
            "lift_ci95": [round(low, 3), round(high, 3)], "verdict": verdict(low, high),
            "ndcg@10_interaction_knn": round(float(reference.mean()), 5),
            "lift_interaction_knn": round(float(reference.mean() / shuffled.mean()), 3) if shuffled.mean() > 0 else None,
            "seconds": round(time.perf_counter() - started, 1)}


def verdict(low, high):
    if low > 1.0:
        return "signal: profile neighbours predict held-out items better than shuffled profiles"
    if high < 1.0:
        return "anti-signal: profile neighbours predict held-out items worse than shuffled profiles"
    return "no signal: profile neighbours predict held-out items no better than shuffled profiles"


def format_check(result):
    low, high = result["lift_ci95"]
    return (f"{result['user_file']}: lift {result['lift']:.2f} (95% CI {low:.2f}-{high:.2f}) over shuffled profiles; "
            f"kNN NDCG@10 on validation {result['ndcg@10']:.4f} vs {result['ndcg@10_shuffled']:.4f} shuffled; "
            f"{result['users']} users. {result['verdict'].capitalize()}. (For scale: neighbours by "
            f"shared training items reach lift {result['lift_interaction_knn']:.2f}.)")
