"""One way to build a profile ``.user`` file from any teacher; the main job and the benchmark grid call it.

Sources (the benchmark's teacher and its controls):

* ``llm``: the four steps of the profile pipeline (``generate`` → ``embed`` → ``reduce`` →
  ``write``); with ``allow_generate=False`` every profile must come from the caches (the shipped
  ones included), and a missing one stops the run before the LLM starts
  (:class:`~recbole_llmkd.profiles.generate.ProfilesNotCached`);
* ``item_mean``: the mean sentence embedding of the user's training items, reduced and written
  like the LLM profiles (``item_mean`` → ``reduce`` → ``write``);
* ``metadata``: "Favourite genres: Drama 41%, ..." texts from the same training interactions
  (:func:`~recbole_llmkd.profiles.metadata.write_metadata_texts`), embedded, reduced and written
  exactly like the LLM profiles;
* ``random``: a fixed N(0, 1) vector per user (seed 0), for the users and the number of dims of a
  reference ``.user`` file (the metadata profiles, in the grid);
* ``shuffled``: the vectors of a reference ``.user`` file (the LLM profiles, in the grid) permuted
  across its users (seed 0): the same set of vectors, so the same geometry and spread, but no user
  gets their own (the control for the teacher's content).
"""

import dataclasses
import os

import numpy as np

from recbole_llmkd.profiles.config import BUILT_SOURCES, DERIVED_SOURCES, SOURCES  # noqa: F401


def build_profile_file(config, source="llm", allow_generate=True, reference_file=None, progress=True):
    """Write ``config.user_path`` from ``source``; returns ``{step: summary}`` of the steps run. The
    metadata source reads its field and wording from ``config``
    (:func:`~recbole_llmkd.profiles.metadata.metadata_settings`)."""
    from recbole_llmkd.profiles.cli import run_step

    if source not in SOURCES:
        raise ValueError(f"profile source {source!r}; expected one of {', '.join(SOURCES)}")
    if source not in DERIVED_SOURCES:
        if config.source != source:
            config = dataclasses.replace(config, source=source)
        return run_step("all", config, progress=progress, cached_only=not allow_generate)
    if reference_file is None:
        what = "users and dims it copies" if source == "random" else "vectors it permutes"
        raise ValueError(f"profile source {source!r} needs reference_file: the .user file whose {what}")
    write = write_random_profiles if source == "random" else write_shuffled_profiles
    return {source: write(reference_file, config.user_path)}


def write_random_profiles(reference_file, user_file, seed=0):
    """N(0, 1) vectors (``seed``), one per user of ``reference_file``, with its number of dims; the
    file keeps the reference's field names (the dataset's user field and the configured profile field)."""
    from recbole_llmkd.formats.files import read_atomic, write_profile_file

    reference, types = read_atomic(reference_file)
    user_field, profile_field = _profile_columns(reference_file, types)
    users = reference[user_field].astype(str).tolist()
    dims = len(str(reference[profile_field].iloc[0]).split())
    vectors = np.random.default_rng(seed).standard_normal((len(users), dims))
    os.makedirs(os.path.dirname(os.path.abspath(user_file)), exist_ok=True)
    write_profile_file(user_file, users, vectors, field=profile_field, user_field=user_field)
    return {"users": len(users), "dims": dims, "seed": seed, "reference": reference_file, "user_file": user_file}


def write_shuffled_profiles(reference_file, user_file, seed=0):
    """The profile vectors of ``reference_file`` permuted across its users with a seeded random
    derangement (no user keeps their own vector); each vector's text is copied unchanged, so the
    file holds exactly the reference's vectors."""
    from recbole_llmkd.formats.files import read_atomic, write_text_atomic

    reference, types = read_atomic(reference_file)
    user_field, profile_field = _profile_columns(reference_file, types)
    users = reference[user_field].astype(str).tolist()
    vectors = reference[profile_field].astype(str).tolist()
    if len(users) < 2:
        raise ValueError(f"{reference_file}: {len(users)} user(s); shuffling needs at least 2")
    order = derangement(len(users), seed)
    os.makedirs(os.path.dirname(os.path.abspath(user_file)), exist_ok=True)
    lines = [f"{user_field}:token\t{profile_field}:float_seq"]
    lines += [f"{user}\t{vectors[j]}" for user, j in zip(users, order)]
    write_text_atomic(user_file, "\n".join(lines) + "\n")
    return {"users": len(users), "seed": seed, "reference": reference_file, "user_file": user_file}


def derangement(n, seed=0):
    """A seeded permutation of ``range(n)`` (n >= 2) with no fixed point: a random order of the
    positions, each taking the vector of the next one in that order (a single cycle)."""
    cycle = np.random.default_rng(seed).permutation(n)
    order = np.empty(n, dtype=int)
    order[cycle] = np.roll(cycle, -1)
    return order


def _profile_columns(path, types):
    """``(user field, profile field)`` of a profile ``.user`` file: its token and float_seq columns."""
    tokens = [f for f, t in types.items() if t == "token"]
    sequences = [f for f, t in types.items() if t == "float_seq"]
    if len(tokens) != 1 or len(sequences) != 1:
        raise ValueError(f"{path} line 1: expected one token column (the user) and one float_seq column "
                         f"(the profile), got {types}")
    return tokens[0], sequences[0]
