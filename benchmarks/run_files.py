"""Run JSONs that stay small: per-user test metrics as one rank a user, the user lists once per split.

    python benchmarks/run_files.py results/runs     # compact every run JSON under the folder, in place

With RecBole's leave-one-out split a test user has one target item, so each per-user metric the
grid records is a function of that item's rank in the user's top K (K: the largest ``@k``):
Recall@k and Hit@k are 1 when ``rank < k``, NDCG@k is ``1 / log2(rank + 2)`` then, MRR@k
``1 / (rank + 1)``, Precision@k ``1 / k``, and all are 0 otherwise. :func:`compact_run` replaces
``per_user``'s metric arrays by those ranks (one signed byte a user, -1 = below the top K, in
base64) when they give back every array exactly, float for float, rounded as the run rounded
them (:mod:`recbole_llmkd.harness.measure` keeps 6 decimals), and moves the user lists, the
same for every run on one split, to ``<runs>/users/<key>.json.gz``. :func:`expand_run` restores
the arrays; ``benchmarks/report.py`` reads old (full) and new (compact) files alike. A run whose
arrays the ranks do not reproduce keeps them as they are.
"""

import argparse
import base64
import glob
import gzip
import hashlib
import json
import os
import sys

import numpy as np

FORMAT = "rank-v1"
USERS_FOLDER = "users"


DECIMALS = (None, 6)  # how a run may have rounded its per-user values: not at all, or as measure.py does


def _metric_values(name, k, ranks, decimals=None):
    """The per-user values of metric ``name@k`` for ``ranks`` (-1: not in the top K), rounded to
    ``decimals`` places when given, or None for a metric this format cannot express."""
    hit = (ranks >= 0) & (ranks < k)
    safe = np.where(hit, ranks, 0).astype(np.float64)
    if name in ("recall", "hit"):
        values = np.where(hit, 1.0, 0.0)
    elif name == "ndcg":
        values = np.where(hit, 1.0 / np.log2(safe + 2.0), 0.0)
    elif name == "mrr":
        values = np.where(hit, 1.0 / (safe + 1.0), 0.0)
    elif name == "precision":
        values = np.where(hit, 1.0 / k, 0.0)
    else:
        return None
    return values if decimals is None else np.array([round(float(v), decimals) for v in values])


def _split_metric(key):
    name, at, k = key.partition("@")
    return (name.lower(), int(k)) if at and k.isdigit() else (None, None)


def ranks_of(per_user):
    """``(ranks, top, decimals)`` that reproduce every metric array of ``per_user`` exactly, or None."""
    metrics = [k for k in per_user if k not in ("user_index", "user")]
    parsed = [_split_metric(k) for k in metrics]
    if not metrics or any(name is None for name, _ in parsed):
        return None
    top = max(k for _, k in parsed)
    if top > 127:
        return None
    n = len(per_user[metrics[0]])
    ranks = np.full(n, -1, dtype=np.int64)
    for metric, (name, k) in zip(metrics, parsed):  # the deepest NDCG/MRR fixes the rank where it is > 0
        values = np.asarray(per_user[metric], dtype=np.float64)
        if name == "ndcg" and k == top:
            found = values > 0
            ranks[found] = np.rint(2.0 ** (1.0 / values[found]) - 2.0).astype(np.int64)
        elif name == "mrr" and k == top:
            found = values > 0
            ranks[found] = np.rint(1.0 / values[found] - 1.0).astype(np.int64)
    for decimals in DECIMALS:
        if all(_reproduces(per_user[metric], name, k, ranks, decimals) for metric, (name, k) in zip(metrics, parsed)):
            return ranks, top, decimals
    return None


def _reproduces(values, name, k, ranks, decimals):
    rebuilt = _metric_values(name, k, ranks, decimals)
    return rebuilt is not None and rebuilt.tolist() == [float(v) for v in values]


def users_key(per_user):
    """A short hash of the test users (index and token): the name of their shared file."""
    payload = json.dumps({"user_index": per_user["user_index"], "user": per_user.get("user")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def users_path(users_dir, key):
    return os.path.join(users_dir, f"{key}.json.gz")


def write_users(users_dir, key, per_user):
    from recbole_llmkd.formats.files import atomic_open

    path = users_path(users_dir, key)
    if not os.path.exists(path):
        with atomic_open(path, "wb") as f:
            f.write(gzip.compress(json.dumps({"user_index": per_user["user_index"], "user": per_user.get("user")})
                                  .encode(), mtime=0))
    return path


def compact_run(run, users_dir):
    """``run`` with ``per_user`` in the compact format (the user lists written to ``users_dir``);
    unchanged when the ranks cannot reproduce its arrays or it is compact already."""
    per_user = run.get("per_user")
    if not isinstance(per_user, dict) or per_user.get("format") == FORMAT:
        return run
    found = ranks_of(per_user)
    if found is None:
        return run
    ranks, top, decimals = found
    key = users_key(per_user)
    write_users(users_dir, key, per_user)
    metrics = [k for k in per_user if k not in ("user_index", "user")]
    compact = {"format": FORMAT, "users": key, "top": top, "metrics": metrics, "decimals": decimals,
               "rank": base64.b64encode(ranks.astype(np.int8).tobytes()).decode("ascii")}
    return {**run, "per_user": compact}


def expand_run(run, users_dir):
    """``run`` with full per-user arrays (as :func:`recbole_llmkd.harness.experiment.train_and_test` writes them)."""
    per_user = run.get("per_user")
    if not isinstance(per_user, dict) or per_user.get("format") != FORMAT:
        return run
    path = users_path(users_dir, per_user["users"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the test users of a compact run JSON (per_user.users) are missing")
    with open(path, "rb") as f:
        users = json.loads(gzip.decompress(f.read()))
    ranks = np.frombuffer(base64.b64decode(per_user["rank"]), dtype=np.int8).astype(np.int64)
    if len(ranks) != len(users["user_index"]):
        raise ValueError(f"{path}: {len(users['user_index'])} users, but the run has {len(ranks)} ranks")
    full = {"user_index": users["user_index"]}
    if users.get("user") is not None:
        full["user"] = users["user"]
    for metric in per_user["metrics"]:
        name, k = _split_metric(metric)
        full[metric] = _metric_values(name, k, ranks, per_user.get("decimals")).tolist()
    return {**run, "per_user": full}


def compact_file(path, users_dir):
    """Rewrite the run JSON at ``path`` compactly (atomically); True when it changed."""
    from recbole_llmkd.formats.files import write_text_atomic

    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    compact = compact_run(run, users_dir)
    if compact is run:
        return False
    if expand_run(compact, users_dir)["per_user"] != run["per_user"]:
        raise AssertionError(f"{path}: the compact form does not give back the run's per-user values")
    write_text_atomic(path, json.dumps(compact) + "\n")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="a folder of run JSONs (results/runs); its users/ subfolder holds the user lists")
    args = parser.parse_args(argv)
    users_dir = os.path.join(args.runs, USERS_FOLDER)
    paths = sorted(glob.glob(os.path.join(args.runs, "**", "seed*.json"), recursive=True))
    changed = [p for p in paths if compact_file(p, users_dir)]
    kept = len(paths) - len(changed)
    print(f"{len(changed)} of {len(paths)} run files compacted; {kept} left as they were "
          f"(compact already, or arrays the ranks do not reproduce)")
    return changed


if __name__ == "__main__":
    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    main()
