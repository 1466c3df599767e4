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
