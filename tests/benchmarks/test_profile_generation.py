"""benchmarks/profile_generation.py on the real packaged SmolLM2, at toy sizes; deselect with -m "not llm"."""

import json

import pytest

from benchmarks import profile_generation

pytestmark = pytest.mark.llm


def test_backends_side_by_side_with_the_reference_texts(tmp_path, capsys):
    out = tmp_path / "cost.json"
    rows, embed_rate, speedup = profile_generation.main([
        "--backends", "transformers", "transformers_per_prompt", "transformers_int8_per_prompt",
        "--batch-sizes", "2", "16", "--users", "2", "--max-new-tokens", "4", "--embed-texts", "8",
        "--json", str(out)])
    assert [(r["backend"], r["batch_size"]) for r in rows] == [
        ("transformers", 2), ("transformers", 16), ("transformers_per_prompt", 2), ("transformers_per_prompt", 16),
        ("transformers_int8_per_prompt", 2), ("transformers_int8_per_prompt", 16)]
    assert all(r["output_tokens"] == 2 * 4 and r["prompt_tokens"] == rows[0]["prompt_tokens"] for r in rows)
    # float32 per-prompt prefill: the reference's greedy texts; the reference against itself: all
    assert [r["same_texts_as_reference"] for r in rows[:4]] == [2, 2, 2, 2]
    assert embed_rate > 0
    best = max(rows, key=lambda r: r["output_tokens_per_s"])
    assert speedup == pytest.approx(best["output_tokens_per_s"] / rows[1]["output_tokens_per_s"])
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("2 ml-100k prompts, 4 new tokens each; torch threads")
    assert printed.rstrip().splitlines()[-1] == f"speedup: {speedup:.2f}"
    saved = json.loads(out.read_text())
    assert saved["generation"] == rows and saved["speedup"] == speedup and saved["cpu"]
