"""``generate``: one LLM profile per user, resumable, shardable, batched across users.

Each finished user is appended to the JSONL cache under the key (user, prompt hash, model id). The
prompt hash covers everything that shapes the text: the user's history lines, the templates, the
long-history strategy, the token budget and the generation options. A re-run skips the users whose
key is in the cache, so a changed history or prompt regenerates just the users it affects, and a
killed run loses at most the group of users in flight.
"""

import json
import os
import time

from tqdm import tqdm

from recbole_llmkd.profiles.aggregation import profile_calls
from recbole_llmkd.files import write_text_atomic
from recbole_llmkd.profiles.backends import make_backend
from recbole_llmkd.profiles.cache import JsonlCache
from recbole_llmkd.profiles.chunking import HistoryTooLong
from recbole_llmkd.profiles.history import build_histories, load_tables
from recbole_llmkd.profiles.prompts import PromptBuilder, stable_hash
from recbole_llmkd.profiles.sharding import in_shard, shard_file_suffix
from recbole_llmkd.user_errors import RunFailed

GENERATION_KEY = ("user", "prompt_hash", "model")


def generations_path(config):
    return os.path.join(config.out, f"generations{shard_file_suffix(config.shard)}.jsonl")


def generations_pattern(config):
    """Every generation cache of the output folder: this shard's and the other shards'."""
    return os.path.join(config.out, "generations*.jsonl")


def selection_path(config):
    """The profiles this shard's run settled on (one per user), which the embed step reads."""
    return os.path.join(config.out, f"profiles{shard_file_suffix(config.shard)}.jsonl")


def shipped_caches(config):
    """The read-only caches shipped with the package that this run may reuse."""
    if config.regenerate:
        return []
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped")
    return [path if os.path.isabs(path) else os.path.join(folder, path) for path in config.shipped_cache]


def prompt_hash(history, settings):
    """The cache key's hash of one user's request; ``settings`` from :func:`prompt_settings`."""
    return stable_hash({"lines": history.lines, **settings})


def prompt_settings(prompts, backend, config):
    """Everything besides the history that shapes a profile (the same for every user of a run).
    Where the server runs is not part of it: shards generated on different machines, each against its
    own server's URL, merge into one cache that a later run (any URL) reuses."""
    generation = {k: v for k, v in backend.describe().items() if k != "url"}
    return {"templates": prompts.fingerprint(), "long_history": config.long_history,
            "context_length": backend.context_length, "generation": generation}


def select_user_ids(users, config):
    """The users of ``users`` (sorted) that ``shard`` and ``limit_users`` select, in order."""
    users = in_shard(list(users), config.shard)
    return users[: config.limit_users] if config.limit_users else users


def select_users(histories, config):
    chosen = set(select_user_ids([h.user for h in histories], config))
    return [h for h in histories if h.user in chosen]


class Driver:
    """Runs the rounds of many users' :func:`profile_calls` together, in backend batches."""

    def __init__(self, backend, prompts, config):
        self.backend, self.prompts, self.config = backend, prompts, config
        self.limit = backend.context_length - config.max_new_tokens
        self.prompt_tokens = self.output_tokens = self.calls = 0

    def run(self, histories):
        """``{user: (profile text or None, error or None, usage)}`` for a group of users; ``usage``:
        that user's ``calls``, ``prompt_tokens`` and ``output_tokens`` (every call of the user's
        rounds, as the backend reported them)."""
        results, pending, usage = {}, {}, {}
        for history in histories:
            conversation = profile_calls(history.lines, self.prompts, self.backend.count_messages,
                                         self.backend.count_text, self.limit, self.config.long_history,
                                         self.config.max_new_tokens)
            usage[history.user] = {"calls": 0, "prompt_tokens": 0, "output_tokens": 0}
            self._advance(history.user, conversation, None, pending, results)
        while pending:
            requests = [(user, i, messages) for user, (_, batch) in pending.items()
                        for i, messages in enumerate(batch)]
            outputs = {user: [None] * len(batch) for user, (_, batch) in pending.items()}
            failed = {}
            for start in range(0, len(requests), self.config.batch_size):
                chunk = requests[start:start + self.config.batch_size]
                for (user, i, _), generation in zip(chunk, self.backend.generate([m for _, _, m in chunk])):
                    self.prompt_tokens += generation.prompt_tokens
                    self.output_tokens += generation.output_tokens
                    self.calls += 1
                    usage[user]["calls"] += 1
                    usage[user]["prompt_tokens"] += generation.prompt_tokens
                    usage[user]["output_tokens"] += generation.output_tokens
                    if generation.error:
                        failed[user] = generation.error
                    outputs[user][i] = generation.text
            current, pending = pending, {}
            for user, (conversation, _) in current.items():
                if user in failed:
                    conversation.close()
                    results[user] = (None, failed[user])
                else:
                    self._advance(user, conversation, outputs[user], pending, results)
        return {user: (*results[user], usage[user]) for user in results}

    @staticmethod
    def _advance(user, conversation, sent, pending, results):
        try:
            batch = conversation.send(sent) if sent is not None else next(conversation)
            pending[user] = (conversation, batch)
        except StopIteration as done:
            results[user] = (done.value, None)
        except HistoryTooLong as error:
            results[user] = (None, f"history does not fit: {error}")


class ProfilesNotCached(RunFailed):
    """``cached_only``: some users' prompts are in no cache, and generating them was not allowed."""


def run_generate(config, backend=None, progress=True, cached_only=False):
    """Generate the missing profiles of this shard; returns the run's summary (a dict).
    ``backend``: a ready backend (left open); by default one is built from ``config`` and closed.
    ``cached_only``: take every profile from the caches, and raise :class:`ProfilesNotCached` instead
    of running the LLM when one is missing (before any request)."""
    if backend is not None:
        return _generate(config, backend, progress, cached_only)
    backend = make_backend(config)
    try:
        return _generate(config, backend, progress, cached_only)
    finally:
        backend.close()


def _not_cached(config, missing, users):
    command = f"python -m recbole_llmkd.profiles generate -d {config.dataset} --output-dir {config.out}"
    if config.cut_quantile:
        command += f" --cut-quantile {config.cut_quantile}"
    return ProfilesNotCached(
        f"{config.dataset}: the profile caches do not cover {missing} of {users} users' prompts, and generating "
        f"them runs the LLM over those users (ml-100k: ~1 h on 2 CPU cores for all of them). Run `{command}` "
        "(shardable: --shard i/n) first")


def cached_generations(config, cache):
    """``(records by key, keys of the shipped ones)``: the shipped caches, then every generation cache
    of the output folder (``cache`` is this shard's)."""
    done = {}
    for path in shipped_caches(config):
        if not os.path.exists(path):
            raise FileNotFoundError(f"shipped cache {path} (shipped_cache) does not exist")
        done.update(JsonlCache(path, GENERATION_KEY).read())
    shipped_keys = set(done)
    done.update(cache.read(generations_pattern(config)))
    return done, shipped_keys


def keyed_histories(config, backend):
    """``(prompt builder, [(history, prompt hash)])`` for this shard's users."""
    inter, item, _ = load_tables(config)
    histories = select_users(build_histories(inter, item, config), config)
    prompts = PromptBuilder(config.style, config.domain, config.template_file)
    settings = prompt_settings(prompts, backend, config)
    return prompts, [(h, prompt_hash(h, settings)) for h in histories]


def _generate(config, backend, progress, cached_only=False):
    started = time.perf_counter()
    prompts, keyed = keyed_histories(config, backend)
    histories = [h for h, _ in keyed]
    cache = JsonlCache(generations_path(config), GENERATION_KEY)
    done, shipped_keys = cached_generations(config, cache)
    todo = [(h, key) for h, key in keyed if (h.user, key, backend.model_id) not in done]
    if cached_only and todo:
        raise _not_cached(config, len(todo), len(keyed))
    # similar lengths share a batch: less padding
    todo.sort(key=lambda pair: sum(len(line) for line in pair[0].lines))
    driver = Driver(backend, prompts, config)
    failures = []
    group_size = config.batch_size
    bar = tqdm(total=len(todo), unit="user", desc=f"generate {config.dataset} [{config.shard}]",
               disable=not progress)
    generation_started = time.perf_counter()
    for start in range(0, len(todo), group_size):
        group = todo[start:start + group_size]
        group_started = time.perf_counter()
        results = driver.run([h for h, _ in group])
        seconds = (time.perf_counter() - group_started) / len(group)
        records = []
        for history, key in group:
            text, error, usage = results[history.user]
            if error:
                failures.append({"user": history.user, "error": error})
                continue
            records.append({"user": history.user, "prompt_hash": key, "model": backend.model_id,
                            "profile": text, **usage, "n_items": len(history.lines),
                            "n_dropped": history.n_dropped, "seconds": round(seconds, 3)})
        cache.append(records)
        done.update({cache.key(r): r for r in records})
        bar.update(len(group))
        elapsed = time.perf_counter() - generation_started
        bar.set_postfix(tok_s=f"{driver.output_tokens / max(elapsed, 1e-9):.1f}", failed=len(failures))
    bar.close()
    generation_seconds = time.perf_counter() - generation_started
    summary = {
        "dataset": config.dataset, "shard": config.shard, "model": backend.model_id,
        "users": len(histories), "cached": len(histories) - len(todo),
        "generated": len(todo) - len(failures), "failed": len(failures),
        "calls": driver.calls, "prompt_tokens": driver.prompt_tokens, "output_tokens": driver.output_tokens,
        "seconds": round(generation_seconds, 1), "total_seconds": round(time.perf_counter() - started, 1),
        "output_tokens_per_s": round(driver.output_tokens / generation_seconds, 2) if todo else None,
        "users_truncated_by_max_items": sum(1 for h in histories if h.n_dropped),
        "batch_size": config.batch_size, "backend": backend.describe(), "cache": cache.path,
        "failures": failures[:20],
    }
    selected = [done[(h.user, key, backend.model_id)] for h, key in keyed
                if (h.user, key, backend.model_id) in done]
    write_text_atomic(selection_path(config),
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in selected))
    summary["profiles"] = len(selected)
    summary["from_shipped_cache"] = sum(1 for r in selected if cache.key(r) in shipped_keys)
    summary["shipped_caches"] = shipped_caches(config)
    summary_path = os.path.join(config.out, f"generate{shard_file_suffix(config.shard)}.summary.json")
    summary["summary_file"] = summary_path
    write_text_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary):
    rate = summary["output_tokens_per_s"]
    return (f"{summary['users']} users ({summary['cached']} cached, {summary['generated']} generated, "
            f"{summary['failed']} failed); {summary['calls']} calls, {summary['prompt_tokens']} prompt + "
            f"{summary['output_tokens']} output tokens in {summary['seconds']} s"
            + (f" ({rate} output tokens/s)" if rate else ""))
