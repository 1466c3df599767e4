"""Model and trainer lookups that know the KD models and fall through to RecBole for every other name."""

import importlib

from recbole_llmkd.kd_settings import KD_MODELS


def get_model(model_name):
    """The KD model class ``model_name`` names, else RecBole's ``get_model``. An unknown name is a
    ValueError that says so (RecBole's own lookup can end in an ImportError of an optional library,
    e.g. lightgbm, that has nothing to do with the name)."""
    import recbole.utils

    if model_name in KD_MODELS:
        return getattr(importlib.import_module("recbole_llmkd.model"), model_name)
    try:
        return recbole.utils.get_model(model_name)
    except (ValueError, ImportError) as error:
        raise ValueError(f"model {model_name!r} is neither a KD model ({', '.join(KD_MODELS)}) nor a RecBole "
                         f"model this installation can load ({type(error).__name__}: {error})") from error


def get_trainer(model_type, model_name):
    """:class:`~recbole_llmkd.trainer.KDTrainer` for the KD models, else RecBole's ``get_trainer``."""
    import recbole.utils

    if model_name in KD_MODELS:
        from recbole_llmkd.trainer import KDTrainer

        return KDTrainer
    return recbole.utils.get_trainer(model_type, model_name)
