import json
import os

import pytest

from recbole_llmkd.profiles.backends.openai_backend import OpenAIBackend
from recbole_llmkd.profiles.cache import read_records
from recbole_llmkd.profiles.generate import format_summary, generations_path, run_generate, selection_path


@pytest.fixture
def served(openai_server, toy_config):
    """``(config factory, backend factory)`` generating through the local OpenAI-format server."""
    def config(**overrides):
        values = {"backend": "openai", "model": "tiny", "base_url": openai_server.base_url,
                  "context_length": 4096, "backoff": 0.01, **overrides}
        return toy_config(**values)

    def backend(cfg):
        return OpenAIBackend(cfg.model, base_url=cfg.base_url, context_length=cfg.context_length,
                             backoff=cfg.backoff, max_retries=cfg.max_retries, max_new_tokens=cfg.max_new_tokens)
    return config, backend


def generate(config, backend_factory):
    backend = backend_factory(config)
    try:
        return run_generate(config, backend=backend, progress=False)
    finally:
        backend.close()


def test_generates_every_user_then_a_rerun_skips_them(served, openai_server):
    config, backend = served
    first = generate(config(), backend)
    assert (first["users"], first["generated"], first["cached"], first["failed"]) == (3, 3, 0, 0)
    assert first["calls"] == 3 and first["output_tokens"] > 0
    records = {r["user"]: r for r in read_records(generations_path(config()))}
    assert records["u1"]["profile"] == "Preferences: Horror, Sci-Fi, Drama. Behavioural patterns: 11 lines read."
    assert records["u1"]["n_items"] == 3 and records["u1"]["model"] == "tiny"
    # each record keeps its user's tokens as the server reported them (words, for this server)
    u1_request = next(r["body"]["messages"] for r in openai_server.requests
                      if "Heat" in r["body"]["messages"][-1]["content"]
                      and "Alien" in r["body"]["messages"][-1]["content"])  # u1's history only
    assert (records["u1"]["calls"], records["u1"]["output_tokens"]) == (1, 9)
    assert records["u1"]["prompt_tokens"] == sum(len(m["content"].split()) for m in u1_request)
    assert sum(r["prompt_tokens"] for r in records.values()) == first["prompt_tokens"]
    assert sum(r["output_tokens"] for r in records.values()) == first["output_tokens"]
    assert [r["user"] for r in read_records(selection_path(config()))] == ["u1", "u2", "u3"]
    sent = len(openai_server.requests)
    second = generate(config(), backend)
    assert (second["cached"], second["generated"], len(openai_server.requests)) == (3, 0, sent)
    assert "3 users (3 cached, 0 generated, 0 failed)" in format_summary(second)


def test_a_changed_history_or_prompt_regenerates_only_what_it_affects(served, toy_dataset, tmp_path):
    config, backend = served
    generate(config(), backend)
    with open(toy_dataset / "toy" / "toy.inter", "a") as f:
        f.write("u2\ti1\t5\t900\n")  # u2 gains a (held-out) interaction: its training history changes
    assert generate(config(), backend)["generated"] == 1
    assert generate(config(style="long"), backend)["generated"] == 3
    template = tmp_path / "t.yaml"
    template.write_text("system: 'Be brief.'\n")
    assert generate(config(template_file=str(template)), backend)["generated"] == 3


def test_a_crash_mid_append_loses_only_the_partial_user(served, openai_server):
    config, backend = served
    generate(config(batch_size=1), backend)
    path = generations_path(config())
    content = open(path).read()
    last = content[: len(content) - 1].rindex("\n") + 1
    with open(path, "w") as f:
        f.write(content[: last + 25])  # the last record cut in the middle, as a kill would leave it
    before = len(openai_server.requests)
    rerun = generate(config(batch_size=1), backend)
    assert (rerun["cached"], rerun["generated"], len(openai_server.requests) - before) == (2, 1, 1)
    assert len(read_records(path)) == 3


def test_shards_generate_disjoint_users_whose_files_merge(served):
    config, backend = served
    runs = [generate(config(shard=f"{i}/2"), backend) for i in range(2)]
    assert sum(r["users"] for r in runs) == 3
    folder = config().out
    files = sorted(f for f in os.listdir(folder) if f.startswith("generations"))
    assert files == ["generations.shard-0-of-2.jsonl", "generations.shard-1-of-2.jsonl"]
    users = [r["user"] for f in files for r in read_records(os.path.join(folder, f))]
    assert sorted(users) == ["u1", "u2", "u3"]
    assert generate(config(), backend)["cached"] == 3  # the unsharded run finds the shards' work


def test_failures_are_counted_not_cached_and_retried_next_run(served, openai_server):
    config, backend = served
    openai_server.enqueue(400)
    first = generate(config(batch_size=1), backend)
    assert first["failed"] == 1 and first["generated"] == 2 and "HTTP 400" in first["failures"][0]["error"]
    assert len(read_records(generations_path(config()))) == 2
    assert generate(config(batch_size=1), backend)["generated"] == 1
    summary = json.load(open(os.path.join(config().out, "generate.summary.json")))
    assert summary["failed"] == 0 and summary["cached"] == 2


@pytest.mark.parametrize("strategy,marker", [("agg_after", "MERGE"), ("agg_with", "UPDATE")])
def test_long_histories_are_split_within_the_context(served, openai_server, tmp_path, strategy, marker):
    config, backend = served
    template = tmp_path / "terse.yaml"  # small prompts, so that a tiny context is enough for a merge
    template.write_text("system: S.\nprofile: '{history}'\nshort: P.\nmerge: 'MERGE {profiles}'\n"
                        "update: 'UPDATE {profile} {history}'\n")
    # 80 tokens of context, 8 for the answer: u3's four ~15-token item lines do not fit one call
    summary = generate(config(context_length=80, max_new_tokens=8, template_file=str(template),
                              long_history=strategy), backend)
    assert summary["failed"] == 0 and summary["calls"] > 3
    bodies = [r["body"]["messages"] for r in openai_server.requests]
    assert any(m[1]["content"].startswith(marker) for m in bodies)
    assert all(sum(len(x["content"]) for x in m) / 3 + 16 <= 72 for m in bodies)


def test_shipped_cache_is_reused_unless_regenerating(served, tmp_path):
    config, backend = served
    generate(config(), backend)
    shipped = os.path.abspath(generations_path(config()))
    fresh = tmp_path / "elsewhere"
    reuse = generate(config(output_dir=str(fresh), shipped_cache=[shipped]), backend)
    assert (reuse["cached"], reuse["generated"], reuse["from_shipped_cache"]) == (3, 0, 3)
    assert len(read_records(os.path.join(fresh, "profiles.jsonl"))) == 3
    again = generate(config(output_dir=str(tmp_path / "third"), shipped_cache=[shipped], regenerate=True), backend)
    assert again["generated"] == 3 and again["from_shipped_cache"] == 0 and again["shipped_caches"] == []
    with pytest.raises(FileNotFoundError, match="shipped cache"):
        generate(config(shipped_cache=[str(tmp_path / "missing.jsonl")]), backend)


# -- fast by default, and what it will cost said first


def test_the_cost_and_the_eta_are_printed_before_the_rest_is_generated(served, openai_server, capsys):
    config, backend = served
    summary = generate(config(batch_size=1), backend)
    lines = capsys.readouterr().out.splitlines()
    estimate = summary["estimate"]
    assert (estimate["users"], estimate["max_output_tokens"], estimate["calibration_users"]) == (3, 3 * 128, 1)
    assert estimate["prompt_tokens"] > 0 and estimate["eta_seconds"] >= 0
    assert lines[0] == (f"generate toy [0/1]: 3 users to generate (0 cached), about {estimate['prompt_tokens']:,} "
                        "prompt tokens and up to 384 output tokens (OpenAIBackend, batch 1, max_items 30); timing the first 1 "
                        "users for an ETA")
    assert lines[1].startswith("generate toy [0/1]: the first 1 users took ") and " for the other 2 (about " in lines[1]
    # the timed user is the median-length history, not the shortest: its request went first
    histories = [r["body"]["messages"][-1]["content"] for r in openai_server.requests]
    assert sorted(histories, key=len).index(histories[0]) == 1
    generate(config(batch_size=1), backend)
    assert capsys.readouterr().out == ""  # everything cached: nothing to estimate


@pytest.mark.parametrize("todo, size, first", [(list(range(10)), 3, [4, 5, 6]), (list(range(10)), 16, list(range(10))),
                                               ([0, 1], 1, [1]), ([], 4, [])])
def test_the_median_length_group_is_timed_first(todo, size, first):
    from recbole_llmkd.profiles.generate import calibration_first

    reordered = calibration_first(todo, size)
    assert reordered[:len(first)] == first and sorted(reordered) == todo


def test_max_users_generates_a_seeded_sample_and_nobody_else(served, openai_server):
    config, backend = served
    summary = generate(config(max_users=2), backend)
    assert (summary["users"], summary["generated"], summary["max_users"]) == (2, 2, 2)
    chosen = [r["user"] for r in read_records(selection_path(config()))]
    assert len(chosen) == 2 and set(chosen) < {"u1", "u2", "u3"}
    assert generate(config(max_users=2), backend)["cached"] == 2  # the same seed draws the same users
    shards = [generate(config(max_users=2, shard=f"{i}/2"), backend) for i in range(2)]
    assert sum(s["users"] for s in shards) == 2 and all(s["generated"] == 0 for s in shards)


@pytest.mark.parametrize("users, n, seed, expected", [
    (["1", "2", "3", "10"], 2, 0, 2), (["1", "2", "3"], 5, 0, 3), (["1", "2", "3"], None, 0, 3)])
def test_sample_users_keeps_the_order_and_is_reproducible(users, n, seed, expected):
    from recbole_llmkd.profiles.generate import sample_users

    sample = sample_users(users, n, seed)
    assert len(sample) == expected and sample == [u for u in users if u in sample]
    assert sample_users(list(reversed(users)), n, seed) == list(reversed(sample))  # by user id, not file order


@pytest.mark.parametrize("flags, device, expected", [
    ("fpu avx2 avx512f avx512_vnni avx512_bf16", "cpu", ("int8", "auto: CPU has avx512_vnni")),
    ("fpu avx2 avx_vnni", "cpu", ("int8", "auto: CPU has avx_vnni")),
    ("fpu avx2 avx512f avx512_bf16", "cpu", ("bfloat16", "auto: CPU has avx512_bf16")),
    ("fpu avx2", "cpu", ("float32", "auto: CPU without VNNI, AVX512-BF16 or AMX")),
    (None, "cpu", ("float32", "auto: CPU without VNNI, AVX512-BF16 or AMX")),  # no /proc/cpuinfo
    ("fpu avx2 avx512_vnni", "mps", ("float32", "auto: device mps")),
])
def test_auto_dtype_is_the_fastest_this_machine_runs_well(tmp_path, flags, device, expected):
    from recbole_llmkd.profiles.backends import resolve_dtype

    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n")
    assert resolve_dtype("auto", device, str(cpuinfo)) == expected
    assert resolve_dtype("float32", device, str(cpuinfo)) == ("float32", "set")


def test_the_cache_key_holds_the_dtype_auto_chose(toy_config):
    from recbole_llmkd.profiles.backends import make_backend, resolve_dtype
    from recbole_llmkd.profiles.generate import prompt_settings
    from recbole_llmkd.profiles.prompts import PromptBuilder

    config = toy_config()
    assert (config.dtype, config.max_items, config.max_new_tokens, config.batch_size) == ("auto", 30, 128, 16)
    backend = make_backend(config)
    chosen = resolve_dtype("auto")[0]
    assert backend.describe()["dtype"] == chosen != "auto"
    settings = prompt_settings(PromptBuilder(config.style, config.domain, config.template_file), backend, config)
    assert settings["generation"]["dtype"] == chosen


def test_the_backend_warms_up_before_the_timed_batch_and_not_when_all_is_cached(served):
    config, _ = served
    calls = []

    class Recording(OpenAIBackend):
        def warm_up(self):
            calls.append("warm_up")

        def generate(self, batch):
            calls.append("generate")
            return super().generate(batch)

    def backend(cfg):
        return Recording(cfg.model, base_url=cfg.base_url, context_length=cfg.context_length, backoff=cfg.backoff)

    generate(config(batch_size=1), backend)
    assert calls == ["warm_up", "generate", "generate", "generate"]
    calls.clear()
    generate(config(batch_size=1), backend)
    assert calls == []  # a cached run loads no weights
