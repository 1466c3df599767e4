"""Every command line ends bad input with one line on stderr and exit status 2; ``--debug`` shows the
traceback instead."""

import subprocess
import sys

import pytest

from dataset_converters.__main__ import main as convert_main
from recbole_llmkd.profiles.cli import main as profiles_main
from recbole_llmkd.user_errors import run_cli


@pytest.mark.parametrize("main, argv, message", [
    (profiles_main, ["generate", "-d", "nosuch", "--data-path", "nowhere"],
     "p: error: nowhere/nosuch/nosuch.inter: no interaction file for dataset 'nosuch'"),
    (profiles_main, ["reduce", "--reducer", "tsne"], "p: error: reducer must be one of ['umap', 'pca', 'none'], got 'tsne'"),
    (profiles_main, ["check", "--user-file", "missing.user"], "p: error: "),
])
def test_profiles_cli_prints_one_line(main, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(main, "p", argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert err.rstrip().endswith("(--debug shows the traceback)")


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no interaction file"):
        run_cli(profiles_main, "p", ["generate", "-d", "nosuch", "--debug"])


def test_converter_cli(tmp_path, capsys):
    assert convert_main(["movielens", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (f"python -m dataset_converters: error: {tmp_path / 'nowhere'}: none of "
                                       "['ratings.csv'] found (--debug shows the traceback)\n")


@pytest.mark.parametrize("argv, message", [
    (["run_recbole_kd.py", "-m", "SASRecKD", "-d", "ml-100k", "--kd_profile_file=absent.user"],
     "run_recbole_kd.py: error: profile file absent.user not found"),
    (["-m", "dataset_converters.temporal_split", "-d", "nosuch", "--data-path", "nowhere", "--output", "o"],
     "python -m dataset_converters.temporal_split: error: "),
    # a shared profile config may not vouch for a pickle: the main job refuses it before any stage runs
    (["run_recbole_kd.py", "--pipeline", "-d", "ml-100k", "--profile_config", "shared.yaml"],
     "run_recbole_kd.py: error: shared.yaml: 'trust_reducer_file' may not be set in a file (it is True); it is the "
     "command line's decision: --trust-reducer-file"),
])
def test_entry_points_exit_2_with_one_line(argv, message, tmp_path):
    import os

    (tmp_path / "shared.yaml").write_text("reducer_file: reducer.pkl\ntrust_reducer_file: true\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = [os.path.join(root, argv[0]), *argv[1:]] if argv[0].endswith(".py") else argv
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": root}, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(message) and "Traceback" not in result.stderr
