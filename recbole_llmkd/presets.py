"""Moved to :mod:`recbole_llmkd.integration.presets` (the shipped presets);
this name stays for the documentation's examples."""

from recbole_llmkd.integration.presets import *  # noqa: F401,F403
