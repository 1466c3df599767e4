"""The public name of the entry points (``run_recbole_kd``, ``run``, ``load_data_and_model``), as
RecBole's are ``recbole.quick_start``: ``from recbole_llmkd.quick_start import run_recbole_kd``. The
code lives in :mod:`recbole_llmkd.integration.quick_start`; this name stays as the package's API."""

from recbole_llmkd.integration.quick_start import *  # noqa: F401,F403
