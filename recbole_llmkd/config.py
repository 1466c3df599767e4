"""Moved to :mod:`recbole_llmkd.integration.config` (KDConfig and the model/trainer lookups); this name
stays for the documentation's examples and for checkpoints written before the move, which pickle
KDConfig by this path."""

from recbole_llmkd.integration.config import *  # noqa: F401,F403
