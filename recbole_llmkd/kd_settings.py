"""KDSettings: the one definition of every ``kd_*`` key (type, allowed values, default, help), of the
named recipes and of the KD models.

Everything else is derived from this module or tested equal to it: ``properties/overall.yaml`` (the
YAML RecBole's ``Config`` reads, written by :func:`render_overall_yaml`; ``tests/test_kd_settings.py``
checks the shipped file is that text), the ``paper`` preset (``properties/presets/paper.yaml``, tested
equal to ``RECIPES["paper"]``), the benchmark grid's recipes (:data:`RECIPES`) and the search space
``properties/hyper/kd.hyper`` (every value allowed here).

:meth:`KDSettings.from_config` reads and checks every key once from RecBole's ``Config``; the KD
models build it and hand it to their distillation head and to :class:`~recbole_llmkd.trainer.KDTrainer`;
the KD dataset checks its keys with the same definitions (:func:`check`). The checks that need the
run (``kd_layer`` against the encoder's depth, ``kd_epochs`` against ``epochs``, ``kd_gamma`` and
``kd_temperature`` against float32) stay where that run is known. Pure Python: the benchmark grid and
the docs read this module without torch or RecBole.
"""

import os
from dataclasses import dataclass, fields
from typing import Any, Optional, Tuple

# name -> the RecBole model whose YAML defaults and serving it keeps: the one list of the KD models
KD_MODELS = {"SASRecKD": "SASRec", "BERT4RecKD": "BERT4Rec"}
# the RecBole model of each KD model and the reverse: baseline -> KD model
KD_MODEL_OF = {parent: kd for kd, parent in KD_MODELS.items()}

AGGREGATIONS = ("mean", "exponential", "attention")
LOSSES = ("mse", "rmse", "cosine", "infonce")
DIRECTIONS = ("profile_to_hidden", "hidden_to_profile")
PROJECTIONS = ("learned", "frozen")


def config_number(key, value):
    """``value`` as a finite float, or a ValueError that names the config key."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"config key {key!r} is {value!r}; expected a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"config key {key!r} is {value!r}; expected a finite number")
    return number


def config_bool(key, value):
    """``value`` if it is a boolean, or a ValueError that names the config key ("False" is truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"config key {key!r} is {value!r}; expected True or False")
    return value


def check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"config key {key!r} is {value!r}; expected one of {list(choices)}")
    return value


def _whole(value):
    return not isinstance(value, bool) and isinstance(value, int)


def _alpha(key, value):
    number = config_number(key, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"config key 'kd_alpha' is {number}; expected a number in [0, 1]")
    return number


def _beta_max(key, value):
    if value is not None and not config_number(key, value) > 0:
        raise ValueError(f"config key 'kd_beta_max' is {value}; expected a positive number or ~ (no cap)")
    return None if value is None else float(value)


def _layer(key, value):
    if not _whole(value):
        raise ValueError(f"config key 'kd_layer' is {value!r}; expected a whole number (-1 = last block)")
    return value


def _gamma(key, value):
    number = config_number(key, value)
    if number < 0:  # exp(γ·(t − last)) would grow without bound toward the oldest positions
        raise ValueError(f"config key 'kd_gamma' is {value!r}; expected a number >= 0")
    return number


def _temperature(key, value):
    number = config_number(key, value)
    if not number > 0:
        raise ValueError(f"config key 'kd_temperature' is {value!r}; expected a positive number")
    return number


def _stages(key, value):
    if not _whole(value) or value not in (1, 2):
        raise ValueError(f"config key 'kd_stages' is {value!r}; expected 2 (distil, then fine-tune on L_rec) "
                         "or 1 (distil for the whole run)")
    return value


def _epochs(key, value):
    if value is not None and not _whole(value):
        raise ValueError(f"config key 'kd_epochs' is {value!r}; expected a whole number of epochs or ~")
    return value


def _profile_dim(key, value):
    if value is not None and (not _whole(value) or value < 1):
        raise ValueError(f"config key 'kd_profile_dim' is {value!r}; expected a whole number >= 1 or ~")
    return value


def _choice(choices):
    return lambda key, value: check_choice(key, value, choices)


def _text(key, value):
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"config key {key!r} is {value!r}; expected a text")
    return value


@dataclass(frozen=True)
class Key:
    """One ``kd_*`` key: its YAML ``default``, the ``kind`` and ``help`` the docs show, the
    ``section`` of ``overall.yaml`` it opens (if any), and the function that checks a value and
    returns it typed (or raises a ValueError that names the key)."""

    name: str
    kind: str
    default: Any
    help: str
    check: Any
    choices: Optional[Tuple[str, ...]] = None
    more: Tuple[str, ...] = ()  # continuation lines of the help in overall.yaml
    section: Tuple[str, ...] = ()  # the comment block above the key in overall.yaml (a new section)


KEYS = (
    Key("kd_profile_field", "str", "profile_emb",
        "Name of the float_seq user feature holding the profile vector. Default: profile_emb.", _text,
        section=("Where the profile vectors come from.",)),
    Key("kd_profile_file", "str", None,
        "Path of the .user atomic file with that field. Default: ~ = <data_path>/<dataset>.user.", _text,
        more=("Needed for ml-100k: RecBole always reads ml-100k from its bundled copy.",)),
    Key("kd_profile_dim", "int", None,
        "Expected length of every profile vector; ~ = the length most rows have. Default: ~.", _profile_dim),
    Key("kd_alpha", "float", 0.1,
        "α in α·β·L_distil + (1−α)·L_rec, in [0, 1]; 0 = plain parent training. Default: 0.1 (the paper: 0.4).",
        _alpha, section=("The distillation term. The defaults are the ones chosen on validation",
                         "(results/converged/selection.md); the paper's formulation is properties/presets/paper.yaml.")),
    Key("kd_dynamic_scale", "bool", False,
        "β = stopgrad(L_rec / L_distil) when True (the paper), else β = 1 (a fixed weight α). Default: False.",
        config_bool),
    Key("kd_beta_max", "float", None, "Cap on the dynamic β; ~ = no cap (the paper). Default: ~.", _beta_max),
    Key("kd_layer", "int", -1,
        "Transformer block whose output is distilled: 0 = first block, -1 = last. Default: -1.", _layer),
    Key("kd_aggregation", "str", "mean",
        "Pooling over valid positions: mean, exponential (∝ exp(kd_gamma·t), recent highest) or attention "
        "(learned w, b). Default: mean.", _choice(AGGREGATIONS), choices=AGGREGATIONS),
    Key("kd_gamma", "float", 0.1, "Decay rate γ of the exponential aggregation; ignored otherwise. Default: 0.1.",
        _gamma),
    Key("kd_direction", "str", "hidden_to_profile",
        "profile_to_hidden: pull the pooled state toward T(profile) (the paper); hidden_to_profile: a regressor "
        "R(pooled state) predicts the fixed profile. Default: hidden_to_profile.", _choice(DIRECTIONS),
        choices=DIRECTIONS),
    Key("kd_projection", "str", "learned",
        "T of profile_to_hidden: learned (the paper) or frozen (a fixed random map of unit gain). Default: learned.",
        _choice(PROJECTIONS), choices=PROJECTIONS),
    Key("kd_loss", "str", "infonce",
        "mse, rmse, cosine (1 − cos) or infonce (own user's target among the batch's other users'). Default: "
        "infonce (the paper: mse).", _choice(LOSSES), choices=LOSSES),
    Key("kd_temperature", "float", 0.1, "Temperature τ of infonce (cosine / τ); ignored otherwise. Default: 0.1.",
        _temperature),
    Key("kd_standardize", "bool", True,
        "z-score each profile dimension over the profiled users before use (the paper: False). Default: True.",
        config_bool),
    Key("kd_stages", "int", 2,
        "2: distil (stage 1), then fine-tune on L_rec alone with a fresh patience (the paper); 1: distil for the "
        "whole run, no switch, no optimizer rebuild, no patience reset (a plain regulariser). Default: 2.", _stages,
        section=("The two stages (KDTrainer).",)),
    Key("kd_epochs", "int", None,
        "Epochs of stage 1 (distillation); the remaining epochs fine-tune on L_rec. ~ = epochs // 2. Default: ~.",
        _epochs),
    Key("kd_reset_optimizer", "bool", True,
        "Rebuild the optimizer at the stage switch instead of keeping Adam's state (the paper: False). Default: True.",
        config_bool),
)
KEY = {key.name: key for key in KEYS}
DEFAULTS = {key.name: key.default for key in KEYS}


def check(name, value):
    """``value`` of key ``name``, checked and typed (a ValueError names the key)."""
    return KEY[name].check(name, value)


@dataclass(frozen=True)
class KDSettings:
    """Every ``kd_*`` key of one run, checked and typed (see :data:`KEYS` for their meaning)."""

    kd_profile_field: str
    kd_profile_file: Optional[str]
    kd_profile_dim: Optional[int]
    kd_alpha: float
    kd_dynamic_scale: bool
    kd_beta_max: Optional[float]
    kd_layer: int
    kd_aggregation: str
    kd_gamma: float
    kd_direction: str
    kd_projection: str
    kd_loss: str
    kd_temperature: float
    kd_standardize: bool
    kd_stages: int
    kd_epochs: Optional[int]
    kd_reset_optimizer: bool

    @classmethod
    def from_config(cls, config):
        """From RecBole's ``Config`` (or any mapping); a key it does not hold takes its default."""
        return cls(**{key.name: check(key.name, config[key.name] if key.name in config else key.default)
                      for key in KEYS})

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Named recipes: each spells out the distillation keys it decides, so a recipe means the same whatever
# the shipped defaults are. The grid trains a KD variant ``<variant>-<recipe>`` with them.
PAPER = {"kd_alpha": 0.4, "kd_dynamic_scale": True, "kd_beta_max": None, "kd_direction": "profile_to_hidden",
         "kd_projection": "learned", "kd_loss": "mse", "kd_standardize": False, "kd_reset_optimizer": False,
         "kd_aggregation": "mean", "kd_layer": -1, "kd_stages": 2}
# a regressor from the pooled state predicts the fixed, standardised profile; fixed weight α
REGRESSOR = {**PAPER, "kd_direction": "hidden_to_profile", "kd_standardize": True, "kd_alpha": 0.1,
             "kd_dynamic_scale": False, "kd_reset_optimizer": True}
RECIPES = {
    # the paper's formulation (Severin et al., ECIR 2026): learned T, MSE, α 0.4 with the uncapped
    # dynamic β, optimizer kept
    "paper": PAPER,
    "reg": REGRESSOR,
    # the same regressor, InfoNCE over the batch's other users (τ 0.1): the shipped defaults
    "nce": {**REGRESSOR, "kd_loss": "infonce", "kd_temperature": 0.1},
}
SHIPPED_RECIPE = "nce"  # the recipe the defaults are (chosen on validation: results/converged/selection.md)


def effective(settings):
    """The keys of ``settings`` (defaults filled in) that change training: a key that is ignored under
    the others (``kd_gamma`` without the exponential pooling, ``kd_temperature`` without InfoNCE,
    ``kd_beta_max`` without the dynamic β, ``kd_projection`` without profile_to_hidden,
    ``kd_epochs`` in one stage, everything of the term with ``kd_alpha: 0``) becomes None."""
    s = {**DEFAULTS, **settings}
    if s["kd_aggregation"] != "exponential":
        s["kd_gamma"] = None
    if s["kd_loss"] != "infonce":
        s["kd_temperature"] = None
    if not s["kd_dynamic_scale"]:
        s["kd_beta_max"] = None
    if s["kd_direction"] != "profile_to_hidden":
        s["kd_projection"] = None
    if s["kd_stages"] == 1:
        s["kd_epochs"] = None
    if s["kd_alpha"] == 0:
        for name in ("kd_dynamic_scale", "kd_beta_max", "kd_layer", "kd_aggregation", "kd_gamma", "kd_direction",
                     "kd_projection", "kd_loss", "kd_temperature", "kd_standardize"):
            s[name] = None
    return s


def changes_something(base, overrides):
    """Whether ``overrides`` on top of ``base`` (kd_* keys; defaults fill the rest) change training."""
    return effective({**base, **overrides}) != effective(base)


OVERALL_YAML_HEAD = """\
# recbole-llmkd: the kd_* settings of every KD model (SASRecKD, BERT4RecKD), loaded after RecBole's
# overall.yaml and the parent model's YAML, before the model's own file. Baselines run through our
# entry points never read this file, so they keep RecBole's defaults exactly.
# Written by recbole_llmkd.kd_settings.render_overall_yaml from its KEYS, the one definition of these
# keys: edit them there and rewrite this file (recbole_llmkd.integration.config_files.write_overall_yaml()).

# RecBole's global default samples one uniform negative, which Config rejects for loss_type CE (the
# default of SASRec and BERT4Rec). CE needs no negatives; set this back when you choose loss_type: BPR.
train_neg_sample_args: ~
"""


def _yaml_value(key):
    return "~" if key.default is None else str(key.default)


def render_overall_yaml():
    """The text of ``properties/overall.yaml``: :data:`OVERALL_YAML_HEAD`, then one commented line per key."""
    lines = [OVERALL_YAML_HEAD.rstrip("\n")]
    for key in KEYS:
        if key.section:
            lines += ["", *(f"# {line}" for line in key.section)]
        entry = f"{key.name}: {_yaml_value(key)}"
        lines.append(f"{entry:<32}# ({key.kind}) {key.help}")
        lines += [f"{'':<32}#       {line}" for line in key.more]
    return "\n".join(lines) + "\n"
