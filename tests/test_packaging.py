"""A non-editable install carries the YAML defaults and the shipped profiles: both are found outside
the source tree."""

import configparser
import fnmatch
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = """
import os, sys, recbole_llmkd
recbole_llmkd.register()
from recbole.config import Config
from recbole_llmkd.integration.config_files import model_config_files, properties_dir
assert recbole_llmkd.__file__.startswith(sys.argv[1]), recbole_llmkd.__file__
assert properties_dir().startswith(sys.argv[1]), properties_dir()
assert all(os.path.isfile(p) for p in model_config_files("BERT4RecKD"))
config = Config(model="BERT4RecKD", dataset="ml-100k", config_dict={"checkpoint_dir": sys.argv[1]})
print(config["kd_alpha"], config["transform"], config["kd_profile_field"])
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.profiles.generate import shipped_caches
[shipped] = shipped_caches(load_config())
assert shipped.startswith(sys.argv[1]) and os.path.getsize(shipped) > 100_000, shipped
from recbole_llmkd.profiles.cache import read_records
[beauty] = shipped_caches(load_config(dataset="beauty"))
assert beauty.startswith(sys.argv[1]) and beauty.endswith(".jsonl.gz"), beauty
print(load_config().max_items, len(read_records(beauty)))
from recbole_llmkd.integration.presets import preset_file
assert preset_file("paper").startswith(sys.argv[1])
"""


@pytest.mark.slow
def test_installed_package_finds_its_properties(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), ROOT],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert sorted(os.listdir(site / "recbole_llmkd" / "properties" / "model")) == ["BERT4RecKD.yaml", "SASRecKD.yaml"]
    assert (site / "recbole_llmkd" / "properties" / "profiles" / "designs" / "items-mean.yaml").is_file()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", CHECK, str(site)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["0.1", "mask_itemseq", "profile_emb", "30", "22363"]


def package_data_patterns():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    return [p.strip() for p in parser["options.package_data"]["recbole_llmkd.properties"].split(",")]


def test_every_properties_file_is_package_data():
    """Without building: every file of properties/ matches a package_data pattern of setup.cfg (an
    editable install reads the folder itself, so a file left out breaks only for users of the wheel)."""
    patterns = package_data_patterns()
    folder = os.path.join(ROOT, "properties")
    files = [os.path.relpath(os.path.join(d, f), folder).replace(os.sep, "/")
             for d, _, names in os.walk(folder) for f in names
             if not f.endswith((".py", ".pyc")) and "__pycache__" not in d]
    assert "profiles/designs/items-mean.yaml" in files
    # fnmatch's * crosses "/", so compare folder by folder as setuptools' globs do
    left_out = [f for f in files if not any(
        os.path.dirname(f) == os.path.dirname(p) and fnmatch.fnmatch(os.path.basename(f), os.path.basename(p))
        for p in patterns)]
    assert left_out == []
