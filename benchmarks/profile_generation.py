"""Offline cost of the profile pipeline on this machine: generation by backend and batch size, side
by side in one run, and embedding texts/s. Prints a table and a last line
``speedup: <best row's output tokens/s ÷ the transformers backend's at batch 16>``.

    python benchmarks/profile_generation.py                      # SmolLM2 (packaged), ml-100k prompts
    python benchmarks/profile_generation.py --backends transformers transformers_bf16_per_prompt --batch-sizes 16

The same users' prompts (ml-100k, the shipped settings: 30 most recent training items) go through
every backend at every batch size, greedily, with a fixed number of new tokens (end-of-text is
masked until then), so the rows differ only in how they compute. Output tokens/s counts generated
tokens; prompt tokens/s counts the prompt tokens processed in the same wall time; "same text" counts
the prompts whose text equals the reference backend's at that batch size. The llama_cpp
backend needs ``llama-cpp-python`` (optional); without it its rows are skipped with a note.
"""

import argparse
import copy
import dataclasses
import json
import os
import time

import torch

from recbole_llmkd.harness.experiment import cpu_description
from recbole_llmkd.profiles.backends import make_backend
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.embed import load_encoder
from recbole_llmkd.profiles.history import build_histories, load_tables
from recbole_llmkd.profiles.prompts import PromptBuilder


def time_generation(backend, batch, batch_size):
    started = time.perf_counter()
    prompt_tokens = output_tokens = 0
    texts = []
    for start in range(0, len(batch), batch_size):
        for result in backend.generate(batch[start:start + batch_size]):
            prompt_tokens += result.prompt_tokens
            output_tokens += result.output_tokens
            texts.append(result.text)
    return time.perf_counter() - started, prompt_tokens, output_tokens, texts


BASELINE = ("transformers", 16)  # the backend as the issue measured it: the rate the speedup is measured against
# row name -> (backend, config changes)
BACKENDS = {"transformers": ("transformers", {"prefill": "batched"}),
            "transformers_per_prompt": ("transformers", {"prefill": "per_prompt"}),  # the default
            # AMX/AVX512-BF16 matmuls where the CPU has them
            "transformers_bf16": ("transformers", {"dtype": "bfloat16", "prefill": "batched"}),
            "transformers_bf16_per_prompt": ("transformers", {"dtype": "bfloat16", "prefill": "per_prompt"}),
            # int8 weights and per-call int8 inputs in the linear layers (VNNI where the CPU has it)
            "transformers_int8_per_prompt": ("transformers", {"dtype": "int8", "prefill": "per_prompt"}),
            "llama_cpp": ("llama_cpp", {})}


def make(config, name, batch_size, new_tokens, loaded, warm_up):
    """The backend ``name`` with a fixed generation length of ``new_tokens``; the transformers backend
    is loaded once per dtype (its batch is only how many prompts one call gets; its prefill only how
    it reads them), llama_cpp per batch size (it sizes its context to ``batch_size`` sequences;
    loading takes a fraction of a second)."""
    kind, changes = BACKENDS[name]
    key = (kind, changes.get("dtype"))
    if kind == "transformers" and key in loaded:
        backend = copy.copy(loaded[key])
        backend.prefill = changes["prefill"]
        return backend
    backend = make_backend(dataclasses.replace(config, backend=kind, batch_size=batch_size, **changes))
    if kind == "transformers":
        backend.generation = {**backend.generation, "min_new_tokens": new_tokens}
    else:
        backend.min_new_tokens = new_tokens
    backend.generate(warm_up)  # loads the weights (transformers: on first use) and warms up
    loaded[key] = backend
    return backend


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS),
                        help="local backends to time: transformers with prefill batched (the reference) or "
                             "per_prompt, in float32, bfloat16 (_bf16) or int8 (_int8), and llama_cpp")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="one row per batch size")
    parser.add_argument("--users", type=int, default=16, help="prompts per row (the same users in every row)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per prompt")
    parser.add_argument("--embed-texts", type=int, default=512, help="texts timed through the sentence encoder")
    parser.add_argument("--model", default=None, help="GGUF file (default: packaged SmolLM2)")
    parser.add_argument("--device", default="cpu", help="torch device of the transformers backend and encoder")
    parser.add_argument("--dataset", default="ml-100k", help="whose prompts (the dataset's profile settings)")
    parser.add_argument("--data-path", default=None, help="folder holding <dataset>/ (ml-100k: RecBole's copy)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    config = load_config(model=args.model, device=args.device, max_new_tokens=args.max_new_tokens,
                         dataset=args.dataset, data_path=args.data_path)
    inter, item, _ = load_tables(config)
    histories = build_histories(inter, item, config)[: args.users]
    prompts = PromptBuilder(config.style, config.domain)
    batch = [prompts.profile(h.lines) for h in histories]
    cpu = cpu_description()
    print(f"{len(batch)} {args.dataset} prompts, {args.max_new_tokens} new tokens each; torch threads "
          f"{torch.get_num_threads()}, cores {len(os.sched_getaffinity(0))}; {cpu}")
    print(f"{'backend':<28} {'batch':>5} {'load s':>7} {'seconds':>8} {'prompt tok/s':>13} {'output tok/s':>13} "
          f"{'s/1000 users':>13} {'same text':>9}")
    rows, loaded, reference_texts = [], {}, {}
    for name in args.backends:
        for size in args.batch_sizes:
            try:
                backend = make(config, name, size, args.max_new_tokens, loaded, batch[:2])
            except ImportError as error:
                print(f"{name:<28} skipped: {error}")
                break
            seconds, n_prompt, n_output, texts = time_generation(backend, batch, size)
            if name == BASELINE[0]:
                reference_texts[size] = texts
            same = (sum(a == b for a, b in zip(texts, reference_texts[size])) if size in reference_texts else None)
            row = {"backend": name, "batch_size": size, "model": backend.model_id,
                   "load_seconds": round(getattr(backend, "load_seconds", 0.0), 2), "seconds": round(seconds, 2),
                   "prompt_tokens": n_prompt, "output_tokens": n_output,
                   "prompt_tokens_per_s": round(n_prompt / seconds, 1),
                   "output_tokens_per_s": round(n_output / seconds, 2),
                   "seconds_per_1000_users": round(1000 * seconds / len(batch), 1),
                   "same_texts_as_reference": same}
            rows.append(row)
            print(f"{name:<28} {size:>5} {row['load_seconds']:>7.1f} {seconds:>8.1f} {row['prompt_tokens_per_s']:>13.1f} "
                  f"{row['output_tokens_per_s']:>13.2f} {row['seconds_per_1000_users']:>13.0f} "
                  f"{'-' if same is None else f'{same}/{len(texts)}':>9}", flush=True)

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
    reference = next((r for r in rows if (r["backend"], r["batch_size"]) == BASELINE), None)
    speedup = None
    if reference and rows:
        best = max(rows, key=lambda r: r["output_tokens_per_s"])
        speedup = best["output_tokens_per_s"] / reference["output_tokens_per_s"]
        print(f"best: {best['backend']} batch {best['batch_size']}, {best['output_tokens_per_s']:.2f} output tok/s "
              f"against {reference['output_tokens_per_s']:.2f} for {BASELINE[0]} batch {BASELINE[1]}")
        print(f"speedup: {speedup:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "generation": rows, "embed_texts_per_s": round(embed_rate, 1), "speedup": speedup}, f, indent=2)
    return rows, embed_rate, speedup


if __name__ == "__main__":
    main()
