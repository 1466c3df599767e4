"""Which YAML files hold RecBole's and the plugin's settings, and in which order they apply.

The one place that knows it: :class:`recbole_llmkd.integration.config.KDConfig` layers :func:`plugin_config_files`
after RecBole's own files, and the offline side (profile pipeline, converters' derived protocols)
reads a dataset's field names and time scaling through :func:`dataset_settings` from the same
files. Only YAML is read here: neither torch nor RecBole's ``Config`` is imported, so the profile
pipeline does not pay for them.
"""

import importlib.resources
import importlib.util
import os

import yaml

from recbole_llmkd.kd_settings import KD_MODELS, render_overall_yaml


def properties_dir():
    """The installed ``properties/`` folder (package ``recbole_llmkd.properties``)."""
    return os.fspath(importlib.resources.files("recbole_llmkd.properties"))


def recbole_properties_dir():
    """RecBole's ``recbole/properties`` folder, found without importing RecBole."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("RecBole is not installed: pip install recbole==1.2.1")
    return os.path.join(list(spec.submodule_search_locations)[0], "properties")


def dataset_config_file(dataset):
    """Our ``properties/dataset/<dataset>.yaml`` for a dataset RecBole has none for (the converted
    ones), else None."""
    recbole_file = os.path.join(recbole_properties_dir(), "dataset", f"{dataset}.yaml")
    ours = os.path.join(properties_dir(), "dataset", f"{dataset}.yaml")
    return ours if os.path.isfile(ours) and not os.path.isfile(recbole_file) else None


def recbole_dataset_folder(dataset, data_path):
    """The folder RecBole reads ``dataset``'s atomic files from, given the ``data_path`` setting
    (``Config._set_default_parameters``: ml-100k is always RecBole's bundled copy)."""
    if dataset == "ml-100k":
        return os.path.join(os.path.dirname(recbole_properties_dir()), "dataset_example", dataset)
    return os.path.join(data_path if data_path is not None else "dataset/", dataset)


def local_dataset_config_file(dataset, folder):
    """``<folder>/<dataset>.yaml``, the dataset settings ``dataset_converters`` writes beside the
    atomic files (field names, ``load_col``), if there is one."""
    path = os.path.join(folder, f"{dataset}.yaml")
    return path if os.path.isfile(path) else None


def model_config_files(model_name):
    """The YAML files that hold a KD model's defaults, lowest precedence first: the parent model's
    RecBole YAML, the settings all KD models share, the model's own."""
    parent = KD_MODELS[model_name]
    ours = properties_dir()
    return [
        os.path.join(recbole_properties_dir(), "model", f"{parent}.yaml"),
        os.path.join(ours, "overall.yaml"),
        os.path.join(ours, "model", f"{model_name}.yaml"),
    ]


def plugin_config_files(model, dataset, data_path=None):
    """The plugin's YAML files that apply after RecBole's own ``_load_internal_config_dict``, lowest
    precedence first: our dataset YAML, then the ``<dataset>.yaml`` beside the atomic files under
    ``data_path`` (what ``dataset_converters`` writes, so a converted dataset trains under any name
    without ``--config_files``; both for any model, so baselines and KD models read the same dataset
    settings), then, for a KD model, :func:`model_config_files`. Everything here is below the
    user's config files, dict and flags, as RecBole's own dataset YAML is."""
    local = local_dataset_config_file(dataset, recbole_dataset_folder(dataset, data_path))
    files = [path for path in [dataset_config_file(dataset), local] if path]
    if model in KD_MODELS:
        files += model_config_files(model)
    return files


def read_yaml_mapping(path):
    """The mapping in a YAML settings file (empty file: ``{}``); anything else names the file."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def dataset_settings(dataset, folder=None):
    """The dataset-level settings RecBole resolves for ``dataset`` when it is trained through the
    plugin, lowest precedence first: RecBole's ``dataset/sample.yaml`` (the global defaults such as
    ``USER_ID_FIELD: user_id``), RecBole's ``dataset/<dataset>.yaml``, our ``dataset/<dataset>.yaml``
    (:func:`dataset_config_file`), then ``<folder>/<dataset>.yaml`` beside the atomic files, which
    ``dataset_converters`` writes and training reads too (:func:`plugin_config_files`)."""
    files = [os.path.join(recbole_properties_dir(), "dataset", "sample.yaml"),
             os.path.join(recbole_properties_dir(), "dataset", f"{dataset}.yaml"),
             dataset_config_file(dataset)]
    if folder is not None:
        files.append(local_dataset_config_file(dataset, folder))
    merged = {}
    for path in files:
        if path and os.path.isfile(path):
            merged.update(read_yaml_mapping(path))
    return merged


def normalizes_field(settings, field):
    """Whether RecBole min-max scales ``field`` under ``settings`` (``normalize_field`` when given,
    else ``normalize_all``), as ``Dataset._normalize`` decides."""
    fields = settings.get("normalize_field") or []
    return bool(field in fields if fields else settings.get("normalize_all"))


def write_overall_yaml():
    """Rewrite ``properties/overall.yaml`` from :data:`recbole_llmkd.kd_settings.KEYS` (after editing a key there)."""
    path = os.path.join(properties_dir(), "overall.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_overall_yaml())
    return path
