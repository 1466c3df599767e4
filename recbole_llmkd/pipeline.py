"""Moved to :mod:`recbole_llmkd.harness.main_job` (the main job);
this name stays for the documentation's examples."""

from recbole_llmkd.harness.main_job import *  # noqa: F401,F403
from recbole_llmkd.harness.main_job import MainJobError as PipelineError, run_main_job as run_pipeline  # noqa: F401,E402
