"""How far the reduced profiles move when their input moves in its last bits: why a profile file
rebuilt on another CPU is another file.

    python benchmarks/layout_stability.py                # ml-100k -> results/cost/layout_stability_ml-100k.json
    python benchmarks/layout_stability.py -d beauty      # 22,363 users: about 15 minutes of embedding first

The pipeline is deterministic on one machine, yet a ``.user`` file rebuilt on another CPU differs:
the sentence encoder's float kernels differ in their last bits between CPUs. This measures what such
a difference does downstream. It builds (or reuses) the grid's LLM profile embeddings of the dataset
(``benchmarks/grid.py``'s ``output/grid/<dataset>/llm``), reduces them with the pipeline's own
reducer and the dataset's profile options, then reduces them again after adding Gaussian noise of
``--noise`` (1e-8: a float32 value of order 0.1 is stored to about 7e-9, so a few rounding steps).
For each reducer it prints the largest change of a reduced coordinate, the coordinates' largest
magnitude, and the share of each user's ``--k`` nearest neighbours (Euclidean, reduced space) the
two reductions share, beside the share each keeps of the neighbours in the unreduced embeddings
(cosine).
"""

import argparse
import json
import math
import os
import shlex
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def neighbours(x, k, metric="euclidean"):
    """Each row's ``k`` nearest other rows (indices), exact."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k + 1, metric=metric).fit(x).kneighbors(x, return_distance=False)[:, 1:]


def overlap(a, b):
    """Mean share of each row's neighbours in ``a`` that are also its neighbours in ``b``."""
    return float(np.mean([len(set(p) & set(q)) / len(p) for p, q in zip(a, b)]))


def stability(embeddings, make_reducer, noise, seed, k):
    """The change that ``noise`` makes to one reducer's output (a dict)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(embeddings, dtype=np.float32)
    moved = (x + rng.normal(0.0, noise, size=x.shape)).astype(np.float32)
    started = time.perf_counter()
    a = np.asarray(make_reducer().fit_transform(x), dtype=np.float64)
    b = np.asarray(make_reducer().fit_transform(moved), dtype=np.float64)
    unreduced = neighbours(x, k, metric="cosine")
    near_a, near_b = neighbours(a, k), neighbours(b, k)
    return {"input_max_change": float(np.abs(moved - x).max()), "output_max_change": float(np.abs(a - b).max()),
            "output_max_magnitude": float(np.abs(a).max()), "neighbours_shared": overlap(near_a, near_b),
            "neighbours_kept_of_input": [overlap(near_a, unreduced), overlap(near_b, unreduced)],
            "seconds": time.perf_counter() - started}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", default="ml-100k", help="a dataset the grid knows (default ml-100k)")
    parser.add_argument("--work", default=os.path.join("output", "grid"), help="the grid's profiles folder")
    parser.add_argument("--noise", type=float, default=1e-8, help="standard deviation of the added noise")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("-k", type=int, default=10, help="neighbours compared")
    parser.add_argument("--reducers", nargs="+", default=["umap", "pca"], choices=["umap", "pca"],
                        help="the reducers measured (default both)")
    parser.add_argument("--out", help="JSON written (default results/cost/layout_stability_<dataset>.json)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.noise) and args.noise > 0) or args.k < 1:
        parser.error(f"--noise must be a finite number above 0 (got {args.noise}) and -k at least 1 (got {args.k})")
    from benchmarks.grid import DATASETS, build_profile_file, ensure_source, profile_dir
    from recbole_llmkd.harness.experiment import cpu_description
    from recbole_llmkd.formats.files import write_text_atomic
    from recbole_llmkd.profiles.config import load_config
    from recbole_llmkd.profiles.embed import embeddings_path, load_matrix
    from recbole_llmkd.profiles.reduce import make_reducer

    if args.dataset not in DATASETS:
        parser.error(f"unknown dataset {args.dataset!r}; the grid knows {sorted(DATASETS)}")
    build_profile_file(args.work, args.dataset, "llm", ensure_source(args.dataset, print))
    spec = DATASETS[args.dataset]
    folder = profile_dir(args.work, args.dataset, "llm")
    users, embeddings = load_matrix(embeddings_path(load_config(dataset=spec.source, output_dir=folder)), "embed")
    if args.k >= len(users):
        parser.error(f"-k {args.k}: {folder} holds {len(users)} users; -k must be below that")
    result = {"dataset": args.dataset, "users": len(users), "dims": int(embeddings.shape[1]), "noise": args.noise,
              "seed": args.seed, "k": args.k, "cpu": cpu_description(),
              "command": shlex.join(["python", "benchmarks/layout_stability.py",
                                     *(argv if argv is not None else sys.argv[1:])]),
              "reducers": {}}
    for name in args.reducers:
        config = load_config(dataset=spec.source, output_dir=folder, reducer=name)
        row = stability(embeddings, lambda: make_reducer(config, len(users)), args.noise, args.seed, args.k)
        result["reducers"][name] = row
        print(f"{name}: inputs moved by at most {row['input_max_change']:.2g}; reduced coordinates by at most "
              f"{row['output_max_change']:.3g} (largest magnitude {row['output_max_magnitude']:.3g}); "
              f"{row['neighbours_shared']:.0%} of each user's {args.k} nearest neighbours shared; "
              f"each keeps {row['neighbours_kept_of_input'][0]:.0%} / {row['neighbours_kept_of_input'][1]:.0%} "
              "of the unreduced neighbours")
    out = args.out or os.path.join(ROOT, "results", "cost", f"layout_stability_{args.dataset}.json")
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
