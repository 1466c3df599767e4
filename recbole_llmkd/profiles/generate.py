"""``generate``: one LLM profile per user, resumable, shardable, batched across users.

Each finished user is appended to the JSONL cache under the key (user, prompt hash, model id). The
prompt hash covers everything that shapes the text: the user's history lines, the templates, the
long-history strategy, the token budget and the generation options. A re-run skips the users whose
key is in the cache, so a changed history or prompt regenerates just the users it affects, and a
killed run loses at most the group of users in flight.
"""

import json
import os
import random
import time

from tqdm import tqdm

from recbole_llmkd.profiles.long_history import profile_calls
from recbole_llmkd.formats.files import write_text_atomic
from recbole_llmkd.profiles.backends import make_backend, resolve_dtype
from recbole_llmkd.profiles.cache import JsonlCache
from recbole_llmkd.profiles.chunking import HistoryTooLong
from recbole_llmkd.profiles.history import build_histories, load_tables, user_sort_key
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


def sample_users(users, max_users, seed):
    """``max_users`` of ``users`` drawn with ``seed`` (all of them when there are no more), in their
    order. Drawn before sharding, so the shards of one sample together hold exactly that sample."""
    if not max_users or max_users >= len(users):
        return list(users)
    chosen = set(random.Random(seed).sample(sorted(users, key=user_sort_key), max_users))
    return [user for user in users if user in chosen]


def select_user_ids(users, config):
    """The users of ``users`` (sorted) that ``max_users``, ``shard`` and ``limit_users`` select, in order."""
    users = in_shard(sample_users(list(users), config.max_users, config.seed), config.shard)
    return users[: config.limit_users] if config.limit_users else users


def select_users(histories, config):
    chosen = set(select_user_ids([h.user for h in histories], config))
    return [h for h in histories if h.user in chosen]


ESTIMATE_SAMPLE = 200  # users whose prompts are tokenised for the estimate (evenly spread over the lengths)


def estimate_prompt_tokens(todo, prompts, backend):
    """Estimated prompt tokens of the first calls of ``todo`` (sorted by length): the mean over up to
    :data:`ESTIMATE_SAMPLE` users spread evenly across it, times its size. A history over the budget
    takes more calls (its parts, then merges): this counts it as one."""
    if not todo:
        return 0
    step = max(1, len(todo) // ESTIMATE_SAMPLE)
    sample = todo[::step]
    counted = [backend.count_messages(prompts.profile(history.lines)) for history, _ in sample]
    return round(sum(counted) / len(counted) * len(todo))


def calibration_first(todo, group_size):
    """``todo`` (sorted by length) with its median-length group moved to the front: the first group
    timed is typical of the run, not its shortest histories."""
    start = max(0, min(len(todo) - group_size, len(todo) // 2 - group_size // 2))
    return todo[start:start + group_size] + todo[:start] + todo[start + group_size:]


def format_duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cost_line(config, backend, n_todo, n_cached, prompt_tokens, calibration=None):
    """The line printed before generating (``calibration`` None) and after the first, timed group
    (``calibration``: ``(users, seconds, output tokens)``): users, estimated tokens, and the ETA."""
    settings = describe_settings(backend, config)
    head = (f"generate {config.dataset} [{config.shard}]: {n_todo} users to generate ({n_cached} cached), about "
            f"{prompt_tokens:,} prompt tokens and up to {n_todo * config.max_new_tokens:,} output tokens ({settings})")
    if calibration is None:
        return head + f"; timing the first {min(n_todo, config.batch_size)} users for an ETA"
    users, seconds, output_tokens = calibration
    left = n_todo - users
    eta = seconds / users * left
    return (f"generate {config.dataset} [{config.shard}]: the first {users} users took {seconds:.1f} s "
            f"({output_tokens / max(seconds, 1e-9):.1f} output tokens/s): ETA {format_duration(eta)} for the other "
            f"{left} (about {format_duration(seconds / users * n_todo)} in all)")


def describe_settings(backend, config):
    described = backend.describe()
    parts = [described.get("backend", type(backend).__name__)]
    if "dtype" in described:
        parts.append(f"dtype {described['dtype']}" + (" (auto)" if config.dtype == "auto" else ""))
    parts.append(f"batch {config.batch_size}")
    parts.append(f"max_items {config.max_items}" if config.max_items else "full histories")
    return ", ".join(parts)


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
    # similar lengths share a batch: less padding; the median-length group goes first and is timed
    todo.sort(key=lambda pair: sum(len(line) for line in pair[0].lines))
    group_size = config.batch_size
    todo = calibration_first(todo, group_size)
    estimate = {"users": len(todo), "prompt_tokens": estimate_prompt_tokens(todo, prompts, backend),
                "max_output_tokens": len(todo) * config.max_new_tokens}
    if todo:
        tqdm.write(cost_line(config, backend, len(todo), len(keyed) - len(todo), estimate["prompt_tokens"]))
        backend.warm_up()  # the weights load before the timed batch, not inside it
    driver = Driver(backend, prompts, config)
    failures = []
    bar = tqdm(total=len(todo), unit="user", desc=f"generate {config.dataset} [{config.shard}]",
               disable=not progress)
    generation_started = time.perf_counter()
    for start in range(0, len(todo), group_size):
        group = todo[start:start + group_size]
        group_started = time.perf_counter()
        results = driver.run([h for h, _ in group])
        group_seconds = time.perf_counter() - group_started
        seconds = group_seconds / len(group)
        if start == 0:
            calibration = (len(group), group_seconds, driver.output_tokens)
            estimate.update(calibration_users=len(group), calibration_seconds=round(group_seconds, 2),
                            eta_seconds=round(seconds * (len(todo) - len(group)), 1))
            tqdm.write(cost_line(config, backend, len(todo), len(keyed) - len(todo), estimate["prompt_tokens"],
                                 calibration))
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
        "max_users": config.max_users, "estimate": estimate,
        "dtype_choice": resolve_dtype(config.dtype, config.device)[1] if config.backend == "transformers" else None,
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
