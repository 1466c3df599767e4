"""benchmarks/generation_cost.py: token and time totals of a generation cache, recorded or recounted."""

import json

import pytest

from benchmarks import generation_cost
from recbole_llmkd.profiles.cache import read_records
from recbole_llmkd.profiles.generate import generations_path, keyed_histories, run_generate
from tests.profiles.conftest import openai_server, toy_config, toy_dataset  # noqa: F401 (fixtures)
from tests.profiles.test_generate import served  # noqa: F401 (fixture)


def rewrite(path, records):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def generated(served):  # noqa: F811
    """``(config, backend, generate's summary)`` after generating the toy users' profiles."""
    make_config, make_backend = served
    config = make_config()
    backend = make_backend(config)
    summary = run_generate(config, backend=backend, progress=False)
    yield config, backend, summary
    backend.close()


def test_recorded_counts_add_up_to_the_runs_totals(generated):
    config, backend, summary = generated
    cost = generation_cost.cache_cost(config, backend)
    assert (cost["users"], cost["profiles"], cost["without_profile"], cost["calls"]) == (3, 3, 0, 3)
    assert (cost["prompt_tokens"], cost["output_tokens"]) == (summary["prompt_tokens"], summary["output_tokens"])
    assert (cost["tokens_recorded_users"], cost["tokens_recounted_users"], cost["tokens_unknown_users"]) == (3, 0, 0)
    seconds = sum(r["seconds"] for r in read_records(generations_path(config)))
    assert cost["generation_seconds"] == round(seconds, 1)


def test_old_records_are_recounted_and_several_calls_are_unknown(generated):
    config, backend, _ = generated
    path = generations_path(config)
    records = {r["user"]: r for r in read_records(path)}
    old = {k: v for k, v in records["u1"].items() if k not in ("prompt_tokens", "output_tokens")}
    several = {k: v for k, v in records["u3"].items() if k not in ("prompt_tokens", "output_tokens")}
    several["calls"] = 3
    rewrite(path, [old, several])  # u2's profile is gone
    cost = generation_cost.cache_cost(config, backend)
    assert (cost["profiles"], cost["without_profile"], cost["calls"]) == (2, 1, 4)
    assert (cost["tokens_recorded_users"], cost["tokens_recounted_users"], cost["tokens_unknown_users"]) == (0, 1, 1)
    # u1 recounted with the backend's own estimate (4 characters a token, plus each message's
    # overhead), not the server's word count that the run recorded
    prompts, keyed = keyed_histories(config, backend)
    u1 = next(h for h, _ in keyed if h.user == "u1")
    assert cost["prompt_tokens"] == backend.count_messages(prompts.profile(u1.lines)) == 227
    assert cost["output_tokens"] == backend.count_text(records["u1"]["profile"]) == 24
    assert (cost["mean_prompt_tokens"], cost["mean_output_tokens"]) == (227.0, 24.0)


@pytest.mark.llm
def test_the_shipped_ml100k_cache_recounts_to_the_tokens_its_run_measured(tmp_path, capsys):
    """The shipped cache predates per-record counts; its run measured 717,300 prompt and 115,827
    output tokens in 943 calls and 3,017 s (recbole_llmkd/profiles/shipped/README.md)."""
    out = tmp_path / "cost.json"
    cost = generation_cost.main(["-d", "ml-100k", "--output-dir", str(tmp_path / "work"), "--json", str(out)])
    assert (cost["users"], cost["profiles"], cost["from_shipped_cache"], cost["calls"]) == (943, 943, 943, 943)
    assert cost["tokens_recounted_users"] == 943
    assert cost["prompt_tokens"] == 717300  # the same rendered prompts: exact
    assert cost["output_tokens"] == 115788  # the texts encoded again: 39 fewer than were generated
    assert cost["generation_seconds"] == 3017.1
    assert json.loads(out.read_text()) == cost
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("ml-100k [0/1], SmolLM2-135M-Instruct.Q4_1.gguf: 943 of 943 users have a profile")
