"""Registration is an opt-in: importing the package touches nothing; ``recbole_llmkd.register()``
applies the shims and makes RecBole's own lookups find the KD models. Each case runs in a fresh
interpreter (this one is registered by conftest)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BEFORE_AND_AFTER = """
import json, sys
import recbole_llmkd
import recbole_llmkd.profiles.cli  # the offline pipeline's entry point
state = {"imported": sorted(m for m in ("recbole", "torch") if m in sys.modules)}
import recbole.trainer
from recbole.utils import get_model
state["before"] = [hasattr(recbole.trainer, "SASRecKDTrainer"),
                   "recbole.model.sequential_recommender.sasreckd" in sys.modules]
recbole_llmkd.register()
recbole_llmkd.register()  # idempotent
state["after"] = get_model("SASRecKD").__name__
state["trainer"] = recbole.trainer.BERT4RecKDTrainer.__name__
import torch
state["anomaly_after"] = torch.is_anomaly_enabled()  # recbole's sine.py turns it on; the shims off
print(json.dumps(state))
"""

LAZY_CLASSES = """
import json, sys
import recbole_llmkd
from recbole_llmkd.integration import compat
names = [recbole_llmkd.SASRecKD.__name__, recbole_llmkd.BERT4RecKD.__name__, recbole_llmkd.KDTrainer.__name__,
         recbole_llmkd.KDSequentialDataset.__name__]
print(json.dumps({"names": names, "shims": compat._APPLIED}))
"""


def fresh(code):
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_import_touches_nothing_and_register_opts_in():
    state = fresh(BEFORE_AND_AFTER)
    assert state["imported"] == []
    assert state["before"] == [False, False]
    assert (state["after"], state["trainer"], state["anomaly_after"]) == ("SASRecKD", "KDTrainer", False)


@pytest.mark.slow
def test_the_classes_load_on_first_use_with_the_shims():
    state = fresh(LAZY_CLASSES)
    assert state == {"names": ["SASRecKD", "BERT4RecKD", "KDTrainer", "KDSequentialDataset"], "shims": True}


def test_unknown_attribute():
    import recbole_llmkd

    with pytest.raises(AttributeError, match="has no attribute 'SASRecKDD'"):
        recbole_llmkd.SASRecKDD  # noqa: B018


def test_a_checkpoint_written_before_the_move_still_loads(tmp_path, monkeypatch):
    """Checkpoints pickle the run's KDConfig by its module: those written before the layers name it
    ``recbole_llmkd.config.KDConfig`` (still importable there), and ``torch.load(weights_only=True)``
    accepts it under that name too once registered."""
    import torch

    from recbole_llmkd.integration.config import KDConfig
    from recbole_llmkd.integration.quick_start import build_config

    config = build_config("SASRecKD", "ml-100k", config_dict={"checkpoint_dir": str(tmp_path)})
    monkeypatch.setattr(KDConfig, "__module__", "recbole_llmkd.config")  # pickled as the old code did
    torch.save({"config": config}, tmp_path / "old.pth", pickle_protocol=2)
    monkeypatch.undo()
    assert b"recbole_llmkd.config" in (tmp_path / "old.pth").read_bytes()
    loaded = torch.load(tmp_path / "old.pth", weights_only=True)["config"]
    assert type(loaded) is KDConfig and loaded["kd_loss"] == config["kd_loss"]
