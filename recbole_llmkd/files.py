"""Moved to :mod:`recbole_llmkd.formats.files` (atomic-file IO);
this name stays for the documentation's examples."""

from recbole_llmkd.formats.files import *  # noqa: F401,F403
