"""The teacher side: user profiles as vectors in a ``.user`` atomic file (written and read through
:mod:`recbole_llmkd.formats.files`, the package's shared file module).

* :mod:`~recbole_llmkd.formats.split`: which interactions a profile may read (no leakage);
* :mod:`~recbole_llmkd.profiles.metadata`: a profile without an LLM (a user's genre/category shares).
"""
