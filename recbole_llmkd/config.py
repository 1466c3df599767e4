"""Moved to :mod:`recbole_llmkd.integration.config` (KDConfig and the model/trainer lookups). This name
stays for checkpoints written before the move: they pickle KDConfig as
``recbole_llmkd.config.KDConfig``, and loading them (``torch.load``, ``load_data_and_model``) imports
it from here (tests/test_registry.py). New code imports :mod:`recbole_llmkd.integration.config`."""

from recbole_llmkd.integration.config import *  # noqa: F401,F403
