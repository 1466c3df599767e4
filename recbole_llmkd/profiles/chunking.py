"""Fitting a history into the model's context: the token budget and the split into parts.

The budget of one call is ``context_length - max_new_tokens``; the prompt's own text (system
message, instructions, chat markup; for an ``update`` call also the running profile) is measured by
rendering it with an empty history, and the rest is left for item lines. A history that does not
fit is cut into consecutive parts, packed from the most recent item backwards, so every item,
the newest above all, lands in some part: nothing is dropped.
"""


class HistoryTooLong(ValueError):
    pass


def pack_lines(line_tokens, budget):
    """``[(start, end)]`` consecutive ranges covering all lines, each summing to at most ``budget``
    tokens, packed from the last line backwards (the last range is the fullest)."""
    if budget < 1:
        raise HistoryTooLong(f"no room for item lines: the prompt alone leaves a budget of {budget} tokens")
    ranges = []
    end = len(line_tokens)
    while end > 0:
        start, used = end, 0
        while start > 0 and used + line_tokens[start - 1] <= budget:
            start -= 1
            used += line_tokens[start]
        if start == end:
            raise HistoryTooLong(
                f"one item line takes {line_tokens[end - 1]} tokens, more than the {budget} left for the "
                "history; lower field_max_chars or raise context_length")
        ranges.append((start, end))
        end = start
    return ranges[::-1]


def split_history(lines, render, count_messages, count_text, limit):
    """Parts of ``lines`` (lists of lines, oldest part first) such that ``count_messages(render(part))``
    is at most ``limit`` for each part.

    ``render(lines)`` builds the chat messages for a part; ``count_text`` counts the tokens of plain
    text. Line costs are measured one by one (with their newline) and checked on the rendered
    messages; when tokenisation across line boundaries makes a part overshoot, the parts are packed
    again with a budget smaller by the overshoot.
    """
    if not lines:
        raise ValueError("empty history")
    if count_messages(render(lines)) <= limit:
        return [list(lines)]
    overhead = count_messages(render([]))
    line_tokens = [count_text(line + "\n") for line in lines]
    budget = limit - overhead
    for _ in range(4):
        parts = [lines[s:e] for s, e in pack_lines(line_tokens, budget)]
        excess = max(count_messages(render(part)) - limit for part in parts)
        if excess <= 0:
            return parts
        budget -= excess
    raise HistoryTooLong(f"could not pack the history within {limit} tokens")


def group_for_merge(profiles, render, count_tokens, limit):
    """Consecutive groups of ``profiles`` whose merge prompt fits ``limit`` tokens (at least 2 a group
    where the budget allows it), for hierarchical merging."""
    groups, current = [], []
    for text in profiles:
        if current and count_tokens(render(current + [text])) > limit:
            groups.append(current)
            current = []
        current.append(text)
    groups.append(current)
    if len(groups) == len(profiles) and len(profiles) > 1:
        raise HistoryTooLong(f"two part profiles do not fit one merge prompt of {limit} tokens; "
                             "lower max_new_tokens or raise context_length")
    return groups
