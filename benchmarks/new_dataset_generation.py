"""Profile generation on a dataset the project has never seen, with the defaults: wall time, peak memory
and the ETA the pipeline printed before it started.

    python benchmarks/new_dataset_generation.py                  # 600 users, as measured in results/cost/
    python benchmarks/new_dataset_generation.py --max-users 32   # a quick look

Writes RecBole's bundled ml-100k as a MovieLens CSV release (``ratings.csv``, ``movies.csv``: what a user
downloads) to a temporary folder, converts it with ``python -m dataset_converters movielens`` under a name
no shipped YAML knows (so the unknown-dataset defaults apply: the 30 most recent items, dtype ``auto``),
then runs ``python -m recbole_llmkd.profiles generate --max-users N`` in a child process with no other
flag. Prints one JSON line (wall seconds, peak resident memory of the child, the pipeline's own
estimate and summary) and, with ``--output``, writes it there. Run it on idle cores: the timing is the point.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd

NAME = "ml-new"  # a name without properties/dataset/<name>.yaml


def write_movielens_release(folder):
    """ml-100k (RecBole's bundled atomic files) as MovieLens's ``ratings.csv`` and ``movies.csv``."""
    import recbole

    folder = os.fspath(folder)

    source = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")
    inter = pd.read_csv(os.path.join(source, "ml-100k.inter"), sep="\t")
    inter.columns = ["userId", "movieId", "rating", "timestamp"]
    inter.to_csv(os.path.join(folder, "ratings.csv"), index=False)
    items = pd.read_csv(os.path.join(source, "ml-100k.item"), sep="\t", dtype=str, keep_default_na=False)
    movies = pd.DataFrame({
        "movieId": items.iloc[:, 0],
        "title": items.iloc[:, 1] + " (" + items.iloc[:, 2] + ")",
        "genres": items.iloc[:, 3].str.replace(" ", "|"),
    })
    movies.to_csv(os.path.join(folder, "movies.csv"), index=False)
    return len(inter), len(movies)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-users", type=int, default=600, help="users to profile (a seeded sample)")
    parser.add_argument("--output", help="write the JSON line here too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        raw, data, out = (os.path.join(tmp, x) for x in ("raw", "dataset", "profiles"))
        os.makedirs(raw)
        ratings, movies = write_movielens_release(raw)
        subprocess.run([sys.executable, "-m", "dataset_converters", "movielens", "--input", raw, "--output", data,
                        "--name", NAME], check=True, stdout=subprocess.DEVNULL)
        command = [sys.executable, "-m", "recbole_llmkd.profiles", "generate", "-d", NAME, "--data-path", data,
                   "--max-users", str(args.max_users), "--output-dir", out]
        start = time.perf_counter()
        child = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        seconds = time.perf_counter() - start
        with open(os.path.join(out, "generate.summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
    result = {
        "dataset": f"ml-100k as a MovieLens CSV release ({ratings} ratings, {movies} movies), converted as {NAME!r}",
        "command": "python -m recbole_llmkd.profiles generate -d %s --data-path <converted> --max-users %d"
                   % (NAME, args.max_users),
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "cores": os.cpu_count(),
        "announced": [line for line in child.stdout.splitlines() if "ETA" in line or "to generate" in line],
        "summary": {k: summary.get(k) for k in ("users", "generated", "failed", "prompt_tokens", "output_tokens",
                                                  "seconds", "total_seconds", "output_tokens_per_s", "estimate",
                                                  "dtype_choice", "batch_size", "model")},
    }
    line = json.dumps(result)
    print(line)
    if args.output:
        from recbole_llmkd.formats.files import write_text_atomic

        write_text_atomic(args.output, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
