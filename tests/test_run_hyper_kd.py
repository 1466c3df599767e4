"""run_hyper_kd.py: RecBole's HyperTuning over the shipped KD search space, with real training."""

import pytest
from recbole.trainer import HyperTuning

import run_hyper_kd


def test_shipped_search_space_covers_the_kd_keys():
    space = HyperTuning._build_space_from_file(run_hyper_kd.default_space_file())
    assert set(space) == {"kd_alpha", "kd_direction", "kd_loss", "kd_layer", "kd_aggregation", "kd_epochs",
                          "kd_beta_max"}


@pytest.mark.slow
def test_search_finds_the_kd_model_and_reports_every_trial(run_dir, tiny_config):
    fixed = run_dir / "fixed.yaml"
    fixed.write_text("".join(f"{k}: {v!r}\n" if isinstance(v, str) else f"{k}: {v}\n"
                             for k, v in tiny_config.items() if k not in ("kd_epochs", "state")))
    space = run_dir / "space.hyper"
    space.write_text("kd_alpha choice [0.0,0.4]\nkd_epochs choice [1]\n")
    tuner = run_hyper_kd.main(["-m", "SASRecKD", "-d", "ml-100k", "--config_files", str(fixed),
                               "--params_file", str(space), "--max_evals", "2", "--output_file", "out.result"])
    assert sorted(tuner.params_list) == ["kd_alpha:0.0, kd_epochs:1", "kd_alpha:0.4, kd_epochs:1"]
    assert tuner.model == "SASRecKD" and 0 < tuner.best_score < 1
    text = (run_dir / "out.result").read_text()
    assert text.count("Valid result:") == 2 and text.count("Test result:") == 2
