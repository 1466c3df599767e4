"""The teacher side: user profiles as vectors in a ``.user`` atomic file.

* :mod:`~recbole_llmkd.profiles.split`: which interactions a profile may read (no leakage);
* :mod:`~recbole_llmkd.profiles.atomic`: reading RecBole atomic files, writing the ``.user`` file;
* :mod:`~recbole_llmkd.profiles.metadata`: a profile without an LLM (a user's genre/category shares).
"""
