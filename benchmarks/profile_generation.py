"""Offline cost of the profile pipeline on this machine: generation tokens/s by batch size, and
embedding texts/s. Prints a table; the numbers choose the defaults (batch size, backend).

    python benchmarks/profile_generation.py                      # SmolLM2 (packaged), ml-100k prompts
    python benchmarks/profile_generation.py --batch-sizes 1 4 16 --users 16 --max-new-tokens 64

The same users' prompts (ml-100k, the shipped settings: 30 most recent training items) are
generated at each batch size, greedily, so the rows differ only in batching. Output tokens/s counts
generated tokens; prompt tokens/s counts the prompt tokens processed in the same wall time.
"""

import argparse
import copy
import json
import time

import torch

from recbole_llmkd.profiles.backends import make_backend
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.embed import load_encoder
from recbole_llmkd.profiles.history import build_histories, load_tables
from recbole_llmkd.profiles.prompts import PromptBuilder


def time_generation(backend, batch, batch_size):
    started = time.perf_counter()
    prompt_tokens = output_tokens = 0
    for start in range(0, len(batch), batch_size):
        for result in backend.generate(batch[start:start + batch_size]):
            prompt_tokens += result.prompt_tokens
            output_tokens += result.output_tokens
    return time.perf_counter() - started, prompt_tokens, output_tokens


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="one row per batch size")
    parser.add_argument("--users", type=int, default=16, help="prompts per batch size (same users each time)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per prompt")
    parser.add_argument("--embed-texts", type=int, default=512, help="texts timed through the sentence encoder")
    parser.add_argument("--model", default=None, help="model folder or GGUF (default: packaged SmolLM2)")
    parser.add_argument("--device", default="cpu", help="torch device of the transformers backend and encoder")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    config = load_config(model=args.model, device=args.device, max_new_tokens=args.max_new_tokens)
    inter, item, _ = load_tables(config)
    histories = build_histories(inter, item, config)[: args.users]
    prompts = PromptBuilder(config.style, config.domain)
    batch = [prompts.profile(h.lines) for h in histories]
    backend = make_backend(config)
    # the generation length is fixed (no early stop at end-of-text) so every batch size does the same work
    backend.generation = {**backend.generation, "min_new_tokens": args.max_new_tokens}
    backend.generate(batch[:1])  # loads the tokenizer and weights, and warms up
    load_seconds = backend.load_seconds
    rows = []
    print(f"{backend.model_id} on {args.device} ({torch.get_num_threads()} threads), loaded in {load_seconds:.1f} s; "
          f"{len(batch)} ml-100k prompts, {args.max_new_tokens} new tokens each")
    print(f"{'batch':>5} {'seconds':>8} {'prompt tok/s':>13} {'output tok/s':>13} {'s/1000 users':>13}")
    for size in args.batch_sizes:
        seconds, n_prompt, n_output = time_generation(copy.copy(backend), batch, size)
        row = {"batch_size": size, "seconds": round(seconds, 2), "prompt_tokens_per_s": round(n_prompt / seconds, 1),
               "output_tokens_per_s": round(n_output / seconds, 2),
               "seconds_per_1000_users": round(1000 * seconds / len(batch), 1)}
        rows.append(row)
        print(f"{size:>5} {seconds:>8.1f} {row['prompt_tokens_per_s']:>13.1f} {row['output_tokens_per_s']:>13.2f} "
              f"{row['seconds_per_1000_users']:>13.0f}")

    encoder, name = load_encoder()
    texts = [f"Preferences: {h.lines[-1]}. Behavioural patterns: {' '.join(h.lines[:3])}"
             for h in build_histories(inter, item, config)] * 4
    texts = texts[: args.embed_texts]
    encoder.encode(texts[:8])
    started = time.perf_counter()
    encoder.encode(texts, batch_size=config.embed_batch_size, normalize_embeddings=True)
    embed_rate = len(texts) / (time.perf_counter() - started)
    print(f"embedding ({name.split('/')[-2] if name.endswith('model') else name}): {embed_rate:.1f} texts/s "
          f"over {len(texts)} texts, batch {config.embed_batch_size}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"generation": rows, "embed_texts_per_s": round(embed_rate, 1), "model": backend.model_id,
                       "load_seconds": round(load_seconds, 1)}, f, indent=2)
    return rows, embed_rate


if __name__ == "__main__":
    main()
