"""The cost of a profile generation cache, however many runs (finished, killed, sharded) wrote it:
users, calls, prompt and output tokens, generation seconds, tokens/s, users without a profile.

    python benchmarks/generation_cost.py -d beauty --data-path output/data --output-dir output/grid/beauty/llm

Takes the pipeline's flags (``python -m recbole_llmkd.profiles --help``) and counts the records that
``generate`` with the same flags would reuse: the shipped caches and every generation cache of the
output folder whose key (user, prompt hash, model) matches. A record carries the backend's token
counts where the run that wrote it recorded them; an older record of one call is recounted with the
backend's tokenizer (the prompt as rendered for generation; the output as the profile text encoded
again, end-of-text not counted either way, as in a run). Seconds are each record's share of its
batch's wall time, summed: generation time, without loading the model.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def record_tokens(record, history, prompts, backend):
    """``(prompt tokens, output tokens, how)``: ``how`` is "recorded", "recounted" or "unknown" (a
    record of several calls written before counts were kept: its intermediate texts are gone)."""
    if "prompt_tokens" in record and "output_tokens" in record:
        return record["prompt_tokens"], record["output_tokens"], "recorded"
    if record.get("calls", 1) != 1:
        return 0, 0, "unknown"
    return (backend.count_messages(prompts.profile(history.lines)), backend.count_text(record["profile"]),
            "recounted")


def cache_cost(config, backend):
    """The cost summary (a dict) of the cached profiles of ``config``'s users."""
    from recbole_llmkd.profiles.cache import JsonlCache
    from recbole_llmkd.profiles.generate import GENERATION_KEY, cached_generations, generations_path, keyed_histories

    prompts, keyed = keyed_histories(config, backend)
    done, shipped_keys = cached_generations(config, JsonlCache(generations_path(config), GENERATION_KEY))
    totals = {"recorded": 0, "recounted": 0, "unknown": 0}
    calls = prompt_tokens = output_tokens = profiles = from_shipped = 0
    seconds = 0.0
    for history, key in keyed:
        cache_key = (history.user, key, backend.model_id)
        record = done.get(cache_key)
        if record is None:
            continue
        profiles += 1
        from_shipped += cache_key in shipped_keys
        n_prompt, n_output, how = record_tokens(record, history, prompts, backend)
        totals[how] += 1
        calls += record.get("calls", 1)
        prompt_tokens += n_prompt
        output_tokens += n_output
        seconds += record["seconds"]
    counted = totals["recorded"] + totals["recounted"]
    return {
        "dataset": config.dataset, "shard": config.shard, "model": backend.model_id,
        "users": len(keyed), "profiles": profiles, "without_profile": len(keyed) - profiles,
        "from_shipped_cache": from_shipped, "calls": calls,
        "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
        "tokens_recorded_users": totals["recorded"], "tokens_recounted_users": totals["recounted"],
        "tokens_unknown_users": totals["unknown"],
        "mean_prompt_tokens": round(prompt_tokens / counted, 1) if counted else None,
        "mean_output_tokens": round(output_tokens / counted, 1) if counted else None,
        "generation_seconds": round(seconds, 1),
        "seconds_per_user": round(seconds / profiles, 3) if profiles else None,
        "prompt_tokens_per_s": round(prompt_tokens / seconds, 1) if seconds else None,
        "output_tokens_per_s": round(output_tokens / seconds, 2) if seconds else None,
        "backend": backend.describe(),
    }


def format_cost(cost):
    lines = [f"{cost['dataset']} [{cost['shard']}], {cost['model']}: {cost['profiles']} of {cost['users']} users "
             f"have a profile ({cost['without_profile']} without; {cost['from_shipped_cache']} from shipped caches)",
             f"{cost['calls']} calls, {cost['prompt_tokens']} prompt + {cost['output_tokens']} output tokens "
             f"(per user {cost['mean_prompt_tokens']} + {cost['mean_output_tokens']}; counts recorded for "
             f"{cost['tokens_recorded_users']} users, recounted for {cost['tokens_recounted_users']}, "
             f"unknown for {cost['tokens_unknown_users']})",
             f"{cost['generation_seconds']} s of generation ({cost['seconds_per_user']} s a user): "
             f"{cost['prompt_tokens_per_s']} prompt and {cost['output_tokens_per_s']} output tokens/s"]
    return "\n".join(lines)


def main(argv=None):
    from recbole_llmkd.formats.files import write_text_atomic
    from recbole_llmkd.profiles.backends import make_backend
    from recbole_llmkd.profiles.cli import add_config_options, config_from_args

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_options(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE")
    args = parser.parse_args(argv)
    config = config_from_args(args)
    backend = make_backend(config)
    try:
        cost = cache_cost(config, backend)
    finally:
        backend.close()
    print(format_cost(cost))
    if args.json:
        write_text_atomic(args.json, json.dumps(cost, indent=2) + "\n")
    return cost


if __name__ == "__main__":
    main()
