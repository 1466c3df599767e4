"""Moved to :mod:`recbole_llmkd.harness.experiment` (train_and_test);
this name stays for the documentation's examples."""

from recbole_llmkd.harness.experiment import *  # noqa: F401,F403
