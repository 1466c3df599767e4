"""The teacher's controls: profile files written from another ``.user`` file rather than from the
dataset (``random``: fixed N(0, 1) vectors; ``shuffled``: the reference's vectors permuted across
its users). :mod:`recbole_llmkd.profiles.sources` and the command line (``--source random
--reference-file ...``) write them."""

import os

import numpy as np


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
