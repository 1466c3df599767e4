"""The RecBole integration: how the method plugs into RecBole 1.2.1.

* :mod:`~recbole_llmkd.integration.quick_start`: the one route every entry point takes (``build_run``)
  and the entry points that mirror ``recbole.quick_start``;
* :mod:`~recbole_llmkd.integration.config`: ``KDConfig`` and the model/trainer lookups;
* :mod:`~recbole_llmkd.integration.config_files`: which YAML files apply and in which order;
  :mod:`~recbole_llmkd.integration.presets`: the shipped presets;
* :mod:`~recbole_llmkd.integration.registry`: ``register()``, the one place RecBole is patched, with
  :mod:`~recbole_llmkd.integration.compat` (numpy 2, torch 2.6+, setuptools 81+) and
  :mod:`~recbole_llmkd.integration.distributed` (``--nproc`` on CPUs).

Importing a module here patches nothing; :func:`recbole_llmkd.register` (which our entry points call)
applies every patch, once.
"""
