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

A lift says the profiles know something; it does not say they know anything the interactions do
not (a profile that restates the history lifts as high as the history). The second number, the
**complementarity**, asks that: each user's score of an item is ``(1 - w)`` times the votes of their
interaction neighbours plus ``w`` times the votes of their profile neighbours (``neighbours`` users
each, so the two vote counts share a scale). The weight ``w`` (0 to 1 in steps of 0.1) is chosen on
a random half of the users (seeded) by validation NDCG@10; on the other half the number printed is
the relative change of NDCG@10 against interaction neighbours alone (``w = 0``), with a 95%
bootstrap interval over that half's users. The same is done with the profiles shuffled across
users (one permutation), since blending any neighbours in smooths toward popular items: a profile
source complements the interactions when its change is above 0 and above the shuffled one's.

Training interactions and validation targets follow RecBole's leave-one-out order
(:mod:`recbole_llmkd.formats.split`); only leave-one-out datasets are supported.
"""

import time

import numpy as np

from recbole_llmkd.profiles.history import load_tables
from recbole_llmkd.formats.profile_file import read_profile_file
from recbole_llmkd.formats.split import heldout_interactions, training_interactions

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


def neighbour_votes(neighbours, train_matrix, rows):
    """Dense [len(rows), items]: how many of each row's neighbours trained on each item."""
    from scipy import sparse

    k = neighbours.shape[1]
    votes = sparse.csr_matrix((np.ones(len(rows) * k), neighbours[rows].ravel(), np.arange(0, len(rows) * k + 1, k)),
                              shape=(len(rows), train_matrix.shape[0]))
    return (votes @ train_matrix).toarray()


def target_ndcg(scores, own, targets):
    """NDCG@10 of each row's target under ``scores`` [rows, items], the row's own training items
    (``own``, a CSR slice) excluded; ``scores`` is changed in place."""
    scores[own.nonzero()] = -np.inf
    target_scores = scores[np.arange(len(scores)), targets]
    rank = (scores > target_scores[:, None]).sum(axis=1)  # 0 = first
    return np.where(rank < TOPK, 1.0 / np.log2(rank + 2.0), 0.0)


def _tie_break(popularity):
    return popularity / (popularity.max() + 1.0)  # < 1: only breaks ties between vote counts


def knn_ndcg(neighbours, train_matrix, targets, popularity, block=2048):
    """Per-user NDCG@10 of the target item under neighbour voting; rows of ``neighbours`` and
    ``targets`` are aligned with the rows of ``train_matrix`` (a users × items CSR matrix)."""
    n_users = train_matrix.shape[0]
    tie_break = _tie_break(popularity)
    ndcg = np.zeros(n_users)
    for start in range(0, n_users, block):
        rows = np.arange(start, min(start + block, n_users))
        scores = neighbour_votes(neighbours, train_matrix, rows) + tie_break
        ndcg[rows] = target_ndcg(scores, train_matrix[rows], targets[rows])
    return ndcg


# from 0 (interaction neighbours alone) to 1 (profile neighbours alone): check_profiles reads both ends
BLEND_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def blended_ndcg(interaction_nbrs, profile_nbrs, train_matrix, targets, popularity, weights=BLEND_WEIGHTS,
                 block=2048):
    """[users, len(weights)]: NDCG@10 under ``(1 - w)`` times the interaction neighbours' votes plus
    ``w`` times the profile neighbours' votes, for each ``w`` of ``weights``."""
    n_users = train_matrix.shape[0]
    tie_break = _tie_break(popularity)
    out = np.zeros((n_users, len(weights)))
    for start in range(0, n_users, block):
        rows = np.arange(start, min(start + block, n_users))
        by_interactions = neighbour_votes(interaction_nbrs, train_matrix, rows)
        by_profiles = neighbour_votes(profile_nbrs, train_matrix, rows)
        own = train_matrix[rows]
        for j, w in enumerate(weights):
            scores = (1.0 - w) * by_interactions + w * by_profiles + tie_break
            out[rows, j] = target_ndcg(scores, own, targets[rows])
    return out


def complementarity(blended, evaluated, rng, bootstrap=1000, weights=BLEND_WEIGHTS):
    """The blend weight chosen on a random half of the users, and on the other half the relative
    change of mean NDCG@10 against ``w = 0`` with a 95% bootstrap interval (``blended``: the
    [users, weights] matrix of :func:`blended_ndcg`; users not ``evaluated`` count as 0)."""
    blended = blended * evaluated[:, None]
    order = rng.permutation(len(blended))
    choose, report = order[: len(order) // 2], order[len(order) // 2:]
    best = int(np.argmax(blended[choose].mean(axis=0)))  # ties: the smallest weight
    alone, blend = blended[report, 0], blended[report, best]
    change = blend.mean() / alone.mean() - 1 if alone.mean() > 0 else float("nan")
    samples = rng.integers(0, len(report), size=(bootstrap, len(report)))
    boot = blend[samples].mean(axis=1) / np.maximum(alone[samples].mean(axis=1), 1e-12) - 1
    low, high = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    return {"weight": weights[best], "change": round(float(change), 4), "change_ci95": [round(low, 4), round(high, 4)],
            "ndcg@10_interactions": round(float(alone.mean()), 5), "ndcg@10_blend": round(float(blend.mean()), 5),
            "users_chosen_on": len(choose), "users_reported_on": len(report)}


def check_profiles(config, user_file=None, neighbours=50, permutations=10, bootstrap=1000, seed=0, sample_users=None):
    """The check's numbers for ``user_file`` (default ``config.user_path``), as a dict.

    ``sample_users``: check within a seeded random sample of that many profiled users (neighbours,
    popularity and targets all from the sample), for teachers built for a sample only."""
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
    if sample_users is not None:
        if not neighbours < sample_users:
            raise ValueError(f"sample_users={sample_users}: expected more than neighbours={neighbours}")
        if sample_users < len(keep):
            keep = sorted(np.random.default_rng(seed).choice(keep, size=sample_users, replace=False).tolist())
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
    # one pass over the users gives the profile neighbours alone (w = 1), the interaction neighbours
    # alone (w = 0, the reference for scale) and every blend between (the complementarity)
    by_interactions = interaction_neighbours(train_matrix, neighbours)
    blended = blended_ndcg(by_interactions, neighbour_lists(vectors, neighbours), train_matrix, targets, popularity)
    real, reference = blended[:, -1] * evaluated, blended[:, 0] * evaluated
    rng = np.random.default_rng(seed)
    shuffled = np.mean([knn_ndcg(neighbour_lists(vectors[rng.permutation(len(users))], neighbours), train_matrix,
                                 targets, popularity) * evaluated for _ in range(permutations)], axis=0)
    lift = real.mean() / shuffled.mean() if shuffled.mean() > 0 else float("inf")
    samples = rng.integers(0, len(users), size=(bootstrap, len(users)))
    boot = real[samples].mean(axis=1) / np.maximum(shuffled[samples].mean(axis=1), 1e-12)
    low, high = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    # complementarity: the same halves for the real and the shuffled profiles, from generators of
    # their own, so the lift above is what it was before the complementarity existed
    blend_rng = np.random.default_rng([seed, 1])
    halves = int(blend_rng.integers(2**31))
    blended_shuffled = blended_ndcg(by_interactions, neighbour_lists(vectors[blend_rng.permutation(len(users))],
                                                                     neighbours), train_matrix, targets, popularity)
    blend_real, blend_shuffled = (complementarity(matrix, evaluated, np.random.default_rng(halves), bootstrap)
                                  for matrix in (blended, blended_shuffled))
    return {"user_file": str(path), "users": len(users), "items": len(items), "neighbours": neighbours,
            "permutations": permutations, "ndcg@10": round(float(real.mean()), 5),
            "ndcg@10_shuffled": round(float(shuffled.mean()), 5), "lift": round(float(lift), 3),
            "lift_ci95": [round(low, 3), round(high, 3)], "verdict": verdict(low, high),
            "ndcg@10_interaction_knn": round(float(reference.mean()), 5),
            "lift_interaction_knn": round(float(reference.mean() / shuffled.mean()), 3) if shuffled.mean() > 0 else None,
            "complementarity": blend_real, "complementarity_shuffled": blend_shuffled,
            "complementarity_verdict": complementarity_verdict(blend_real, blend_shuffled),
            "sample_users": sample_users, "seed": seed,
            "seconds": round(time.perf_counter() - started, 1)}


def complementarity_verdict(real, shuffled):
    """complements: the interval of the change is above 0 and the change above the shuffled
    profiles' (which blend in neighbours without content)."""
    if real["change_ci95"][0] > 0 and real["change"] > shuffled["change"]:
        return ("complements: blending in profile neighbours beats interaction neighbours alone, "
                "and beats shuffled profiles")
    if real["change_ci95"][0] > 0:
        return "smooths only: blending helps, but no more than shuffled profiles do"
    return "adds nothing: blending in profile neighbours does not beat interaction neighbours alone"


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
            f"shared training items reach lift {result['lift_interaction_knn']:.2f}.)"
            + (f" Complementarity: {blend_line(result['complementarity'])} (shuffled profiles: "
               f"{blend_line(result['complementarity_shuffled'])}). "
               f"{result['complementarity_verdict'].capitalize()}." if "complementarity" in result else ""))


def blend_line(blend):
    low, high = blend["change_ci95"]
    return f"{blend['change']:+.1%} (95% CI {low:+.1%} to {high:+.1%}) at w {blend['weight']:g}"
