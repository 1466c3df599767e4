import pytest

from recbole_llmkd.profiles.long_history import profile_calls
from recbole_llmkd.profiles.chunking import HistoryTooLong, group_for_merge, pack_lines, split_history
from recbole_llmkd.profiles.prompts import PromptBuilder


def count_text(text):
    """A whitespace tokenizer: one token a word."""
    return len(text.split())


def count_messages(messages):
    return sum(count_text(m["content"]) + 4 for m in messages)


LINES = [f"Movie{i} | 199{i % 10} | Drama, Comedy | rated {i % 5 + 1}/5" for i in range(40)]
PROMPTS = PromptBuilder()


@pytest.mark.parametrize("tokens,budget,expected", [
    ([3, 3, 3], 9, [(0, 3)]),
    ([3, 3, 3], 6, [(0, 1), (1, 3)]),
    ([5, 1, 1, 4], 5, [(0, 1), (1, 2), (2, 4)]),
    ([2, 2, 2, 2, 2], 4, [(0, 1), (1, 3), (3, 5)]),
])
def test_pack_lines_covers_every_line_packing_from_the_newest(tokens, budget, expected):
    assert pack_lines(tokens, budget) == expected


@pytest.mark.parametrize("tokens,budget", [([3, 9, 3], 8), ([1], 0)])
def test_pack_lines_refuses_what_cannot_fit(tokens, budget):
    with pytest.raises(HistoryTooLong):
        pack_lines(tokens, budget)


@pytest.mark.parametrize("limit", [120, 200, 400])
def test_split_history_keeps_every_part_within_the_limit_and_every_item(limit):
    parts = split_history(LINES, PROMPTS.profile, count_messages, count_text, limit)
    assert len(parts) > 1
    assert all(count_messages(PROMPTS.profile(part)) <= limit for part in parts)
    assert [line for part in parts for line in part] == LINES  # order kept, nothing dropped
    assert parts[-1][-1] == LINES[-1]  # the newest item is in the last part


def test_split_history_returns_one_part_when_it_fits():
    assert split_history(LINES[:3], PROMPTS.profile, count_messages, count_text, 10_000) == [LINES[:3]]


def test_group_for_merge_respects_the_limit():
    profiles = ["word " * 30] * 5
    limit = count_messages(PROMPTS.merge(profiles[:2])) + 5
    groups = group_for_merge(profiles, PROMPTS.merge, count_messages, limit)
    assert [len(g) for g in groups] == [2, 2, 1]
    with pytest.raises(HistoryTooLong):
        group_for_merge(profiles, PROMPTS.merge, count_messages, limit - 40)


def drive(strategy, limit, max_new_tokens=20):
    """Run profile_calls, answering each call with a fixed-length text; returns the rounds of calls."""
    conversation = profile_calls(LINES, PROMPTS, count_messages, count_text, limit, strategy, max_new_tokens)
    rounds, answer = [], None
    try:
        while True:
            calls = conversation.send(answer) if answer is not None else next(conversation)
            rounds.append(calls)
            answer = [f"profile {len(rounds)}.{i} " + "word " * (max_new_tokens - 3) for i in range(len(calls))]
    except StopIteration as done:
        return rounds, done.value


@pytest.mark.parametrize("strategy", ["agg_after", "agg_with"])
def test_every_call_fits_and_every_item_is_read(strategy):
    limit = 260
    rounds, profile = drive(strategy, limit)
    calls = [messages for round_ in rounds for messages in round_]
    assert all(count_messages(messages) <= limit for messages in calls)
    read = [line for messages in calls for line in messages[1]["content"].splitlines() if line in LINES]
    assert sorted(read) == sorted(LINES) and len(read) == len(LINES)
    assert profile.startswith(f"profile {len(rounds)}.0")


def test_agg_after_profiles_the_parts_in_one_round_then_merges():
    rounds, _ = drive("agg_after", 260)
    assert len(rounds[0]) > 2
    assert all("Combine them into one profile" in m[1]["content"] for r in rounds[1:] for m in r)
    assert len(rounds[-1]) == 1


def test_agg_after_merges_hierarchically_when_one_merge_does_not_fit():
    rounds, _ = drive("agg_after", 200, max_new_tokens=40)
    assert len(rounds) > 2  # parts, then merges of merges
    assert all(count_messages(m) <= 200 for r in rounds for m in r)


def test_agg_with_updates_a_running_profile_part_by_part_ending_with_the_newest():
    rounds, _ = drive("agg_with", 260)
    assert all(len(r) == 1 for r in rounds) and len(rounds) > 2
    assert "profile 1.0" in rounds[1][0][1]["content"]  # the first update carries the first profile
    assert LINES[-1] in rounds[-1][0][1]["content"]


def test_unknown_strategy():
    conversation = profile_calls(LINES, PROMPTS, count_messages, count_text, 100, "agg_never")
    with pytest.raises(ValueError, match="agg_never"):
        next(conversation)
