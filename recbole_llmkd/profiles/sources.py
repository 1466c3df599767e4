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
  reference ``.user`` file (the metadata profiles, in the grid).
"""

import dataclasses
import os

import numpy as np

SOURCES = ("llm", "item_mean", "metadata", "random")


def build_profile_file(config, source="llm", allow_generate=True, reference_file=None, progress=True):
    """Write ``config.user_path`` from ``source``; returns ``{step: summary}`` of the steps run. The
    metadata source reads its field and wording from ``config``
    (:func:`~recbole_llmkd.profiles.metadata.metadata_settings`)."""
    from recbole_llmkd.profiles.cli import run_step

    if source not in SOURCES:
        raise ValueError(f"profile source {source!r}; expected one of {', '.join(SOURCES)}")
    if source != "random":
        if config.source != source:
            config = dataclasses.replace(config, source=source)
        return run_step("all", config, progress=progress, cached_only=not allow_generate)
    if reference_file is None:
        raise ValueError("profile source 'random' needs reference_file: the .user file whose users and dims it copies")
    return {"random": write_random_profiles(reference_file, config.user_path)}


def write_random_profiles(reference_file, user_file, seed=0):
    """N(0, 1) vectors (``seed``), one per user of ``reference_file``, with its number of dims."""
    from recbole_llmkd.files import read_atomic, write_profile_file

    reference, _ = read_atomic(reference_file)
    users = reference["user_id"].astype(str).tolist()
    dims = len(str(reference["profile_emb"].iloc[0]).split())
    vectors = np.random.default_rng(seed).standard_normal((len(users), dims))
    os.makedirs(os.path.dirname(os.path.abspath(user_file)), exist_ok=True)
    write_profile_file(user_file, users, vectors)
    return {"users": len(users), "dims": dims, "seed": seed, "reference": reference_file, "user_file": user_file}
