"""Time and peak memory of converting a MovieLens-20M-sized ratings file (synthetic data).

    python benchmarks/convert_movielens.py            # 20,000,263 ratings, as in ML-20M
    python benchmarks/convert_movielens.py --rows 1000000

Writes ``ratings.csv`` (users, movies and timestamps drawn at random; ML-20M's counts of users and
movies) and ``movies.csv`` to a temporary folder, then runs ``python -m dataset_converters movielens``
in a child process and reports its wall time and peak resident memory (``ru_maxrss``).
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ML20M = {"rows": 20_000_263, "users": 138_493, "movies": 26_744}


def write_synthetic(folder, rows, seed=0):
    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    with open(os.path.join(folder, "ratings.csv"), "w") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            pd.DataFrame({
                "userId": rng.integers(1, ML20M["users"] + 1, n),
                "movieId": rng.integers(1, ML20M["movies"] + 1, n),
                "rating": rng.integers(1, 11, n) / 2,
                "timestamp": rng.integers(789_652_009, 1_427_784_002, n),
            }).to_csv(f, header=False, index=False)
    movies = pd.DataFrame({"movieId": np.arange(1, ML20M["movies"] + 1)})
    movies["title"] = "Movie " + movies["movieId"].astype(str) + " (" + (1900 + movies["movieId"] % 115).astype(str) + ")"
    movies["genres"] = "Drama|Comedy"
    movies.to_csv(os.path.join(folder, "movies.csv"), index=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ML20M["rows"], help="ratings in the synthetic file (default: ML-20M's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="ml20m-bench-")
    try:
        start = time.perf_counter()
        write_synthetic(work, args.rows)
        size = os.path.getsize(os.path.join(work, "ratings.csv")) / 2**20
        print(f"synthetic ratings.csv: {args.rows:,} rows, {size:,.0f} MiB, written in {time.perf_counter() - start:.0f} s",
              flush=True)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "dataset_converters", "movielens", "--input", work,
                              "--output", os.path.join(work, "out")], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        print(out.stdout + out.stderr)
        if out.returncode:
            return out.returncode
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"conversion: {seconds:.1f} s wall, peak memory {peak_mib:,.0f} MiB "
              f"({os.cpu_count()} cores visible)")
    finally:
        if not args.keep:
            shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
