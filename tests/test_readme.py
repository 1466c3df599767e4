"""The README's quick start, run as written (with a tiny training budget substituted for its 50
epochs): the profile path it names is the one the profile pipeline writes, and its code runs. The
docs site's pages are run by tests/test_docs.py."""

import os
import re
import shlex
import shutil
import sys

import pytest

import run_recbole_kd
from recbole_llmkd.profiles.cli import build_parser
from recbole_llmkd.profiles.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"epochs": 2, "kd_epochs": 1, "hidden_size": 16, "inner_size": 32, "MAX_ITEM_LIST_LENGTH": 10,
        "user_inter_num_interval": "[0,40]", "state": "WARNING", "show_progress": False}


def section_blocks(title):
    """``[(language, code)]`` of the README section ``## title``."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def commands(prefix):
    lines = [line.split("  #")[0].strip() for lang, code in section_blocks("Quick start") if lang == "bash"
             for line in code.splitlines()]
    # the training examples: not the main job's (--pipeline, tested in test_pipeline) or elided ones (...)
    return [shlex.split(line) for line in lines
            if line.startswith(prefix) and "--pipeline" not in line and "..." not in line]


def quick_start_python():
    """The quick start's first Python example (the later ones are fragments)."""
    return next(code for lang, code in section_blocks("Quick start") if lang == "python")


PROFILE_PATH = load_config(dataset="ml-100k").user_path


def test_the_quick_start_builds_the_file_it_then_trains_with():
    (build,) = commands("python -m recbole_llmkd.profiles")
    args = build_parser().parse_args(build[3:])
    assert (args.step, args.dataset, args.output_dir) == ("all", "ml-100k", None)  # writes PROFILE_PATH
    python = quick_start_python()
    assert f'"kd_profile_file": "{PROFILE_PATH}"' in python
    assert len(commands("python run_recbole_kd.py")) == 3
    for argv in commands("python run_recbole_kd.py"):
        assert all(arg == f"--kd_profile_file={PROFILE_PATH}" for arg in argv if arg.startswith("--kd_profile_file"))


@pytest.fixture
def profiles_in_place(run_dir, profile_file):
    """The genre profiles where the quick start's first command writes its file."""
    os.makedirs(os.path.dirname(PROFILE_PATH))
    shutil.copy(profile_file, PROFILE_PATH)


@pytest.mark.slow
def test_the_quick_start_python_runs(profiles_in_place, capsys):
    python = quick_start_python()
    assert '"epochs": 50' in python
    tiny = ", ".join(f"{k!r}: {v!r}" for k, v in TINY.items()).replace("'", '"')
    exec(python.replace('"epochs": 50', tiny), {})
    printed = capsys.readouterr().out
    assert "ndcg@10" in printed


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_quick_start_command_lines_run(profiles_in_place, monkeypatch, index):
    argv = [a for a in commands("python run_recbole_kd.py")[index][2:] if not a.startswith("--epochs=")]
    argv += [f"--{k}={v}" for k, v in TINY.items()]
    monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])  # RecBole's Config reads sys.argv
    result = run_recbole_kd.main(argv)
    assert 0 <= result["test_result"]["ndcg@10"] <= 1


def test_the_readme_fits_on_two_screens_and_links_into_the_docs():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert len(text.splitlines()) <= 150
    assert text.count("<!-- headline -->") == text.count("<!-- /headline -->") == 1
    links = re.findall(r"\]\(((?:docs|results)/[^)#]+)", text)
    assert any(link.startswith("docs/") for link in links)
    assert [link for link in links if not os.path.isfile(os.path.join(ROOT, link))] == []


@pytest.mark.parametrize("command", ["bash scripts/main.sh", "bash scripts/test.sh", "bash scripts/docs.sh"])
def test_the_scripts_it_names_exist(command):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert command in f.read()
    assert os.access(os.path.join(ROOT, command.split()[1]), os.X_OK)


def test_the_one_word_change_is_the_only_difference_between_its_two_sasrec_lines():
    sasrec, sasrec_kd = (argv for argv in commands("python run_recbole_kd.py") if argv[3] in ("SASRec", "SASRecKD"))
    assert sasrec[3] == "SASRec" and sasrec_kd[3] == "SASRecKD"
    assert [a for a in sasrec_kd if not a.startswith("--kd_")][4:] == sasrec[4:]


def own_dataset_commands():
    """The bash lines of the README's "Your own dataset" section, split as a shell would."""
    return [shlex.split(line.split("  #")[0]) for lang, code in section_blocks("Your own dataset") if lang == "bash"
            for line in code.splitlines() if line.strip()]


def test_the_own_dataset_section_is_convert_then_pipeline_then_the_single_steps():
    lines = own_dataset_commands()
    assert [line[:3] for line in lines] == [["python", "-m", "dataset_converters"], ["python", "run_recbole_kd.py", "--pipeline"],
                                            ["python", "-m", "recbole_llmkd.profiles"], ["python", "run_recbole_kd.py", "-m"]]
    assert not any(arg.startswith("--config_files") for line in lines for arg in line)  # the point: none needed
    name = lines[0][lines[0].index("--name") + 1]
    written = load_config(dataset=name, data_path="dataset").user_path  # where the profile step writes
    assert f"--kd_profile_file={written}" in lines[3]


@pytest.mark.slow
def test_the_own_dataset_section_runs_as_written(run_dir, movielens_sample, monkeypatch, capsys):
    """Each command as written, with a 40-user MovieLens-format sample for the raw folder, the item-mean
    teacher instead of the LLM (``--profile_config``/``--config``) and a two-epoch budget added."""
    from dataset_converters.__main__ import main as convert_main
    from recbole_llmkd.profiles.cli import main as profiles_main

    convert, pipeline, profiles, single = own_dataset_commands()
    raw = convert[convert.index("--input") + 1]
    assert convert_main([movielens_sample if arg == raw else arg for arg in convert[3:]]) == 0
    no_llm = run_dir / "no-llm.yaml"
    no_llm.write_text("source: item_mean\nreducer: pca\nn_components: 4\n")
    tiny = [f"--{k}={v}" for k, v in TINY.items() if k != "user_inter_num_interval"]

    argv = [*pipeline[2:], "--profile_config", str(no_llm), *tiny]
    monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])  # RecBole's Config reads sys.argv
    rows = run_recbole_kd.main(argv)
    assert [row["model"] for row in rows] == ["SASRec", "SASRecKD"] and all(row["epochs"] == 2 for row in rows)

    profiles_main([*profiles[3:], "--config", str(no_llm), "--quiet"])
    argv = [*single[2:], *tiny]
    monkeypatch.setattr(sys, "argv", ["run_recbole_kd.py", *argv])
    result = run_recbole_kd.main(argv)
    assert 0 <= result["test_result"]["ndcg@10"] <= 1
    assert "| SASRecKD |" in capsys.readouterr().out
