"""Workarounds that let RecBole 1.2.1 run on today's numpy, torch and setuptools.

RecBole 1.2.1 is frozen; each shim below names what breaks without it and is covered by
``tests/test_compat.py`` (one test shows the failure without the shim, one that the shim fixes it).
:func:`apply` runs in :func:`recbole_llmkd.register` and when a ``KDConfig`` is built (importing a module
applies nothing); idempotent.

pandas 3 is not shimmed but pinned (``pandas<3`` in setup.cfg): see the comment there.
"""

import importlib
import importlib.machinery
import sys
import types
import warnings

import numpy as np
import torch

_APPLIED = False

# numpy 2 removed these aliases. RecBole's ``Config.compatibility_settings`` reads np.float_,
# np.complex_ and np.unicode_ (AttributeError at every Config()), and ray 2.6.3 reads np.bool8.
NUMPY_ALIASES = {
    "float_": np.float64,
    "complex_": np.complex128,
    "unicode_": np.str_,
    "bool8": np.bool_,
}


def restore_numpy_aliases():
    for name, value in NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)


class _RayUnavailable(types.ModuleType):
    """Stand-in for ``ray`` / ``ray.tune`` when the real ray cannot be imported.

    ``recbole.quick_start`` does ``from ray import tune`` at import time and only uses it for
    ``tune.report`` inside ray-based tuning. ray 2.6.3 (the newest RecBole allows) imports
    ``pkg_resources``, which setuptools >= 81 no longer ships, so without this stand-in
    ``import recbole.quick_start`` (and RecBole's ``run_recbole``) fails with
    ``ModuleNotFoundError: No module named 'pkg_resources'``.
    """

    def __init__(self, name, reason):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        self._reason = reason

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(
            f"ray is unavailable ({self._reason}); ray-based tuning cannot run. "
            "Use run_hyper_kd.py / RecBole's HyperTuning with hyperopt instead."
        )


def keep_ray_optional():
    """Import ray.tune if it works; otherwise register a stand-in that fails only when used."""
    if "ray.tune" in sys.modules:
        return
    try:
        import ray.tune  # noqa: F401
    except ImportError as err:
        reason = f"{type(err).__name__}: {err}"
        for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
            del sys.modules[name]
        ray = _RayUnavailable("ray", reason)
        tune = _RayUnavailable("ray.tune", reason)
        ray.__dict__["tune"] = tune
        sys.modules["ray"] = ray
        sys.modules["ray.tune"] = tune


def disable_sine_anomaly_detection():
    """``recbole/model/sequential_recommender/sine.py`` calls
    ``torch.autograd.set_detect_anomaly(True)`` at import, and importing the package
    ``recbole.model.sequential_recommender`` (which any sequential get_model does) imports sine.
    Anomaly mode then slows every backward pass of every model. Import it now, once, and turn
    anomaly mode back off; the module is never re-executed, so it stays off."""
    importlib.import_module("recbole.model.sequential_recommender")
    torch.autograd.set_detect_anomaly(False)


def _config_getstate(self):
    # The class objects (the model class and a yaml Loader class) are dropped from the pickle:
    # torch.load(weights_only=True) refuses arbitrary classes, and both are rebuilt on load.
    state = self.__dict__.copy()
    state["model_class"] = None
    state["yaml_loader"] = None
    return state


def _config_setstate(self, state):
    self.__dict__.update(state)
    self.yaml_loader = self._build_yaml_loader()
    # RecBole's numpy aliases (np.float, ...), which its Dataset uses, are set by Config.__init__
    # only: a process that loads a checkpoint without ever building a Config needs them too
    self.compatibility_settings()
    from recbole_llmkd.integration.distributed import as_single_process

    as_single_process(self)
    if self.__dict__.get("model_class") is None and isinstance(self.model, str):
        from recbole_llmkd.integration.models import get_model  # KD models too, without registration

        try:
            self.model_class = get_model(self.model)
        except ValueError:  # a model class passed by object, not by name: nothing to look up
            self.model_class = None


class _TorchSavingProtocol2(types.ModuleType):
    """``torch`` as seen by ``recbole.trainer.trainer``: identical, except that ``save`` writes
    pickle protocol 2 where RecBole asks for 4. torch's weights-only unpickler implements
    protocol 2 only (protocol 4's FRAME opcode fails with "Unsupported operand 149"); tensors are
    stored outside the pickle in torch's zip format, so protocol 4's large-object support is not
    needed."""

    def __init__(self):
        super().__init__("torch")

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def save(obj, f, *args, pickle_protocol=2, **kwargs):
        return torch.save(obj, f, *args, pickle_protocol=2, **kwargs)


def make_checkpoints_weights_only_loadable():
    """torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; RecBole's checkpoints are
    written with pickle protocol 4 and pickle its ``Config`` (with the model class, a yaml Loader
    class, enums and numpy scalars), so ``Trainer.evaluate(load_best_model=True)`` fails at the end
    of every run and so does ``load_data_and_model``. Instead of turning the safety off we
    (1) make RecBole's trainer write protocol 2, (2) pickle Config without the class objects and
    (3) allow-list exactly the RecBole and numpy types a checkpoint holds.
    Any other global in a file is still refused."""
    import recbole.trainer.trainer as recbole_trainer
    from recbole.config import Config

    recbole_trainer.torch = _TorchSavingProtocol2()
    from recbole.utils.enum_type import EvaluatorType, FeatureSource, FeatureType, InputType, ModelType

    Config.__getstate__ = _config_getstate
    Config.__setstate__ = _config_setstate
    numpy_types = [np.dtype, np._core.multiarray.scalar]
    numpy_types += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    torch.serialization.add_safe_globals(
        [Config, EvaluatorType, FeatureSource, FeatureType, InputType, ModelType, *numpy_types]
    )


def silence_recbole_deprecation_warnings():
    """pandas 2.x warns at every RecBole dataset load that RecBole's ``fillna(inplace=True)`` on a
    column will stop working in pandas 3. With ``pandas<3`` pinned it still works, so the warning
    (one screenful per field) is noise for our users; it stays visible for other code. The same goes
    for torch's deprecation warning on RecBole's ``amp.GradScaler`` spelling."""
    warnings.filterwarnings(
        "ignore", message="A value is trying to be set on a copy", category=FutureWarning,
        module=r"recbole\.",
    )
    # Every RecBole Trainer builds its GradScaler through the deprecated torch.cuda.amp spelling;
    # the scaler is disabled off-GPU and works the same on GPU, so the warning is noise per run.
    warnings.filterwarnings(
        "ignore", message=r"`torch\.cuda\.amp\.GradScaler\(args\.\.\.\)` is deprecated", category=FutureWarning,
        module=r"recbole\.",
    )


class _GeneratorRandom(types.ModuleType):
    """``numpy.random`` whose ``RandomState(seed)`` is a ``numpy.random.Generator``."""

    def __init__(self):
        super().__init__("numpy.random")

    def __getattr__(self, attr):
        return getattr(np.random, attr)

    @staticmethod
    def RandomState(seed=None):  # noqa: N802  (the name RecBole calls)
        return np.random.default_rng(seed)


class _NumpyForHyperTuning(types.ModuleType):
    """``numpy`` with :class:`_GeneratorRandom` as ``random``; every other attribute is numpy's."""

    def __init__(self):
        super().__init__("numpy")
        self.random = _GeneratorRandom()

    def __getattr__(self, attr):
        return getattr(np, attr)


def exhaustive_search_with_generator():
    """RecBole's ``exhaustive_search`` (HyperTuning's default ``algo``) hands hyperopt a
    ``np.random.RandomState``; hyperopt >= 0.2.7 samples with ``rng.integers``, which only a
    ``Generator`` has, so the first trial fails with "'RandomState' object has no attribute
    'integers'". The module's ``np`` becomes a view of numpy whose ``random.RandomState`` builds a
    ``Generator`` (same seed, the search is still deterministic)."""
    import recbole.trainer.hyper_tuning as hyper_tuning

    if not isinstance(hyper_tuning.np, _NumpyForHyperTuning):
        hyper_tuning.np = _NumpyForHyperTuning()


def apply():
    global _APPLIED
    if _APPLIED:
        return
    restore_numpy_aliases()
    silence_recbole_deprecation_warnings()
    keep_ray_optional()
    disable_sine_anomaly_detection()
    make_checkpoints_weights_only_loadable()
    exhaustive_search_with_generator()
    _APPLIED = True
