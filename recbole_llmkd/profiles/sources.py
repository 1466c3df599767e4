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

from recbole_llmkd.profiles.config import BUILT_SOURCES, DERIVED_SOURCES, SOURCES  # noqa: F401
from recbole_llmkd.profiles.controls import derangement, write_random_profiles, write_shuffled_profiles  # noqa: F401


def build_profile_file(config, source="llm", allow_generate=True, reference_file=None, progress=True):
    """Write ``config.user_path`` from ``source``; returns ``{step: summary}`` of the steps run. The
    metadata source reads its field and wording from ``config``
    (:func:`~recbole_llmkd.profiles.metadata.metadata_settings`)."""
    from recbole_llmkd.profiles.cli import run_step

    if source not in SOURCES:
        raise ValueError(f"profile source {source!r}; expected one of {', '.join(SOURCES)}")
    if source in DERIVED_SOURCES and reference_file is None:
        what = "users and dims it copies" if source == "random" else "vectors it permutes"
        raise ValueError(f"profile source {source!r} needs reference_file: the .user file whose {what}")
    if config.source != source or (source in DERIVED_SOURCES and config.reference_file != reference_file):
        config = dataclasses.replace(config, source=source,
                                     reference_file=reference_file if source in DERIVED_SOURCES else config.reference_file)
    return run_step("all", config, progress=progress, cached_only=not allow_generate)
