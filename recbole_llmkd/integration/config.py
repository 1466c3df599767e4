"""RecBole's ``Config`` with the plugin's YAML files layered after RecBole's, and model, trainer and
dataset lookups that know the KD models and fall through to RecBole for every other name (the
shape of RecBole-GNN's and RecBole-PJF's ``Config``).

Our entry points (:mod:`recbole_llmkd.harness.experiment`, :mod:`recbole_llmkd.integration.quick_start`, the main job,
the benchmarks) build their runs with :class:`KDConfig`, :func:`get_model` and :func:`get_trainer`.
RecBole's own entry points (``run_recbole``, a ``Config(...)`` built by hand, ``create_dataset``)
use these same definitions once :func:`recbole_llmkd.register` has run (:mod:`recbole_llmkd.integration.registry`).
"""

from recbole.config import Config

from recbole_llmkd.integration import compat
from recbole_llmkd.integration.config_files import model_config_files, plugin_config_files, read_yaml_mapping
from recbole_llmkd.integration.models import get_model, get_trainer  # noqa: F401  (the lookups, by their old home)
from recbole_llmkd.kd_settings import KD_MODELS

# RecBole's own layering, kept before registration can route Config's method here.
_recbole_load_internal_config_dict = Config._load_internal_config_dict


class KDConfig(Config):
    """RecBole's ``Config``; the KD model names resolve to our classes and their YAML defaults.

    Building one applies the compatibility shims first (RecBole 1.2.1's ``Config()`` fails on numpy 2
    without them): importing this module patches nothing."""

    def __init__(self, *args, **kwargs):
        compat.apply()
        super().__init__(*args, **kwargs)

    def _get_model_and_dataset(self, model, dataset):
        name = self.external_config_dict.get("model") if model is None else model
        if isinstance(name, str) and name in KD_MODELS:
            model = get_model(name)  # RecBole takes a class as given and names it by __name__
        return super()._get_model_and_dataset(model, dataset)

    def _set_default_parameters(self):
        """RecBole's, after one default of our entry points (:mod:`recbole_llmkd.integration.quick_start`): with
        ``loss_type: CE`` and ``train_neg_sample_args`` set nowhere by the user (config files, dict,
        ``--key=value`` flags: RecBole's ``external_config_dict``), no negative sampling, which is what
        CE needs and RecBole's global default would refuse."""
        if self.final_config_dict.get("loss_type") == "CE" and "train_neg_sample_args" not in self.external_config_dict:
            self.final_config_dict["train_neg_sample_args"] = None
        super()._set_default_parameters()

    def _load_internal_config_dict(self, model, model_class, dataset):
        """RecBole's files (overall, model, dataset), then :func:`~recbole_llmkd.integration.config_files.plugin_config_files`
        for the ``data_path`` the run will read (the user's, else RecBole's default); the keys of the
        dataset files join RecBole's "Dataset" parameter group, as its own dataset YAML's do."""
        _recbole_load_internal_config_dict(self, model, model_class, dataset)
        data_path = self.external_config_dict.get("data_path", self.internal_config_dict.get("data_path"))
        model_files = set(model_config_files(model)) if model in KD_MODELS else set()
        for path in plugin_config_files(model, dataset, data_path):
            read_yaml_mapping(path)  # a file that is not a mapping of settings is an error that names it
            loaded = self._update_internal_config_dict(path)
            if path not in model_files and loaded:
                self.parameters["Dataset"] += [key for key in loaded if key not in self.parameters["Dataset"]]
