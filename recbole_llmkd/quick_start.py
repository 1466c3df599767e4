"""Moved to :mod:`recbole_llmkd.integration.quick_start` (the entry points and the one route);
this name stays for the documentation's examples."""

from recbole_llmkd.integration.quick_start import *  # noqa: F401,F403
