"""One user's profile as a conversation with the backend: the calls, in rounds.

:func:`profile_calls` is a generator: it yields a list of chat-message lists (the calls of one
round, independent of each other), receives the backend's texts for them, and finally returns the
profile. The driver (:mod:`~recbole_llmkd.profiles.generate`) runs the rounds of many users
together, so calls of different users share batches.

* A history that fits the budget: one call.
* ``agg_after``: one call per part (one round), then merge calls until one profile is left; a merge
  that would not fit the budget is done in groups (hierarchically).
* ``agg_with``: the first part gives a profile, each following part updates it (one call a round).
"""

from recbole_llmkd.profiles.chunking import group_for_merge, split_history


def profile_calls(lines, prompts, count_messages, count_text, limit, strategy="agg_after",
                  max_new_tokens=160):
    """Generator of rounds for one user's history ``lines`` (see the module docstring);
    ``limit`` is the most prompt tokens a call may take (context length - ``max_new_tokens``)."""
    if count_messages(prompts.profile(lines)) <= limit:
        return (yield [prompts.profile(lines)])[0]
    if strategy == "agg_after":
        parts = split_history(lines, prompts.profile, count_messages, count_text, limit)
        profiles = yield [prompts.profile(part) for part in parts]
        while len(profiles) > 1:
            groups = group_for_merge(profiles, prompts.merge, count_messages, limit)
            merged = iter((yield [prompts.merge(g) for g in groups if len(g) > 1]))
            profiles = [next(merged) if len(g) > 1 else g[0] for g in groups]
        return profiles[0]
    if strategy == "agg_with":
        # every part sized for an update prompt with room for a running profile of up to
        # max_new_tokens; the first part, sent with the smaller profile prompt, then fits too
        parts = split_history(lines, lambda part: prompts.update("", part), count_messages,
                              count_text, limit - max_new_tokens)
        profile = (yield [prompts.profile(parts[0])])[0]
        for part in parts[1:]:
            profile = (yield [prompts.update(profile, part)])[0]
        return profile
    raise ValueError(f"long_history must be 'agg_after' or 'agg_with', got {strategy!r}")
