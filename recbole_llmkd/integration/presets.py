"""Named RecBole config files shipped with the package (``properties/presets/<name>.yaml``).

A preset is an ordinary RecBole YAML file placed first in ``config_file_list``, so everything the
user sets (their own files, the config dict, ``--key=value`` flags) still overrides it::

    from recbole_llmkd.integration.presets import preset_file
    run_recbole_kd("SASRecKD", "ml-100k", config_file_list=[preset_file("paper")], config_dict={...})

``paper``: the authors' optimisation (AdamW, weight decay 0.01, gradient clipping at 0.5, for the
baseline and the KD model alike) and the paper's distillation formulation.
"""

import os

from recbole_llmkd.integration.config_files import properties_dir


def presets_dir():
    return os.path.join(properties_dir(), "presets")


def available_presets():
    return sorted(name[: -len(".yaml")] for name in os.listdir(presets_dir()) if name.endswith(".yaml"))


def preset_file(name):
    """The path of preset ``name``; an unknown name is an error that lists the shipped ones."""
    path = os.path.join(presets_dir(), f"{name}.yaml")
    if not os.path.isfile(path):
        raise ValueError(f"unknown preset {name!r}; shipped presets: {available_presets()}")
    return path


def with_preset(name, config_file_list=None):
    """``config_file_list`` with preset ``name`` (if any) first."""
    files = list(config_file_list or [])
    return [preset_file(name), *files] if name else files
