"""The profile pipeline's inputs: a dataset our own converter wrote, a reducer file that is not ours,
an LLM server whose errors echo the API key, a generation in which every request fails."""

import json
import os
import pickle
import re

import numpy as np
import pytest
from sklearn.decomposition import PCA

from dataset_converters import convert
from recbole_llmkd.profiles.cli import main
from recbole_llmkd.profiles.config import load_config
from recbole_llmkd.formats.profile_file import read_profile_file
from recbole_llmkd.profiles.reduce import load_reducer, save_reducer
from recbole_llmkd.user_errors import RunFailed, run_cli
from tests.dataset_converters.test_movielens import MOVIES, RATINGS, TAGS
from tests.profiles.conftest import openai_server  # noqa: F401  (the fixture)

# users 1, 3 and 4 keep training interactions under leave-one-out (user 2 has one rating)
MORE_RATINGS = RATINGS + "3,2,4.0,10\n3,10,3.0,20\n3,30,5.0,30\n4,30,2.0,5\n4,2,1.0,6\n4,10,5.0,7\n"


@pytest.fixture
def converted(tmp_path):
    """A MovieLens release converted by ``dataset_converters``: RecBole's data_path."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, text in (("ratings.csv", MORE_RATINGS), ("movies.csv", MOVIES), ("tags.csv", TAGS)):
        (raw / name).write_text(text)
    convert("movielens", raw, tmp_path / "data")
    return str(tmp_path / "data")


@pytest.fixture
def served(openai_server):
    return ["--backend", "openai", "--base-url", openai_server.base_url, "--model", "tiny", "--context-length",
            "4096", "--backoff", "0.01"]


def test_a_converted_dataset_needs_no_extra_configuration(converted, tmp_path):
    config = load_config(dataset="ml-20m", data_path=converted)
    assert config.item_fields == ["title", "year", "genres", "tags"]
    assert config.list_fields == ["genres"]
    assert config.normalized_time is False  # the converter's ml-20m.yaml does not normalise (RecBole's default)


def test_a_converted_dataset_goes_through_generate(converted, served, openai_server, tmp_path):
    out = str(tmp_path / "out")
    summaries = main(["generate", "-d", "ml-20m", "--data-path", converted, "--output-dir", out, "--quiet", *served])
    assert summaries["generate"]["generated"] == 3
    prompts = [r["body"]["messages"][-1]["content"] for r in openai_server.requests]
    assert any("Jumanji | 1995 | Adventure, Children, Fantasy | board game" in p for p in prompts)


def test_a_converted_dataset_goes_through_the_whole_pipeline_without_an_llm(converted, tmp_path):
    out = tmp_path / "out"
    main(["all", "-d", "ml-20m", "--data-path", converted, "--output-dir", str(out), "--quiet",
          "--source", "item_mean", "--reducer", "pca", "--n-components", "1"])
    table = read_profile_file(str(out / "ml-20m.user"))
    assert table.users == ["1", "3", "4"] and table.vectors.shape == (3, 1)


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "reducer.key"
    monkeypatch.setenv("RECBOLE_LLMKD_KEY_FILE", str(path))
    return path


@pytest.fixture
def fitted():
    return PCA(n_components=1).fit(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]))


def test_a_reducer_written_here_loads_and_the_key_is_private(key_file, fitted, tmp_path):
    save_reducer(fitted, tmp_path / "reducer.pkl")
    assert np.allclose(load_reducer(tmp_path / "reducer.pkl").components_, fitted.components_)
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"


class Payload:
    def __reduce__(self):
        return (open, (os.environ["MARKER"], "w"))  # unpickling creates the marker file


def test_a_foreign_pickle_is_refused_before_it_runs(key_file, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKER", str(tmp_path / "pwned"))
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match=r"reducer_file .*evil\.pkl: refused to load: it is not a reducer file "
                                         r"written by this pipeline\. Loading a pickle runs code"):
        load_reducer(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()


def test_a_modified_or_foreign_signed_reducer_is_refused(key_file, fitted, tmp_path, monkeypatch):
    save_reducer(fitted, tmp_path / "reducer.pkl")
    monkeypatch.setenv("RECBOLE_LLMKD_KEY_FILE", str(tmp_path / "other.key"))  # another machine
    with pytest.raises(ValueError, match="its signature does not match this machine's key"):
        load_reducer(tmp_path / "reducer.pkl")
    assert np.allclose(load_reducer(tmp_path / "reducer.pkl", trusted=True).components_, fitted.components_)


def test_a_trusted_plain_pickle_loads(key_file, fitted, tmp_path):
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(fitted))
    assert np.allclose(load_reducer(tmp_path / "old.pkl", trusted=True).components_, fitted.components_)


def test_every_request_failing_is_a_failed_run_and_the_key_is_not_stored(converted, served, openai_server,
                                                                         tmp_path, monkeypatch, capsys):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    openai_server.enqueue(*[("echo", 400)] * 3)
    out = tmp_path / "out"
    argv = ["generate", "-d", "ml-20m", "--data-path", converted, "--output-dir", str(out), "--quiet",
            "--max-retries", "0", *served]
    assert run_cli(main, "profiles", argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("profiles: error: generate: all 3 users it tried failed, none generated; first error")
    summary = (out / "generate.summary.json").read_text()
    assert secret not in summary and secret not in error
    assert '\\"Authorization\\": \\"Bearer [redacted]\\"' in summary
    assert json.loads(summary)["failed"] == 3
    with pytest.raises(RunFailed):
        openai_server.enqueue(*[("echo", 400)] * 3)
        main(argv)


# -- the trust switch is the command line's decision, never a file's


@pytest.mark.parametrize("value", ["true", "yes", "1"])
def test_trust_reducer_file_from_a_yaml_file_is_refused(tmp_path, value):
    shared = tmp_path / "shared.yaml"
    shared.write_text(f"reducer_file: evil.pkl\ntrust_reducer_file: {value}\n")
    with pytest.raises(ValueError, match=rf"{shared}: 'trust_reducer_file' may not be set in a file \(it is "
                                         r".*\); it is the command line's decision: --trust-reducer-file"):
        load_config([str(shared)])


def test_the_trust_switch_still_comes_from_the_command_line(tmp_path, capsys):
    shared = tmp_path / "shared.yaml"
    shared.write_text("reducer_file: fitted.pkl\ntrust_reducer_file: false\n")  # false: nothing is vouched for
    assert load_config([str(shared)]).trust_reducer_file is False
    assert load_config([str(shared)], trust_reducer_file=True).trust_reducer_file is True
    shared.write_text("trust_reducer_file: true\n")
    assert run_cli(main, "p", ["reduce", "--config", str(shared), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"p: error: {shared}: 'trust_reducer_file' may not be set in a file")
    assert not (tmp_path / "out").exists()


# -- a trusted reducer file that is not a reducer: one line naming it, nothing written


@pytest.fixture
def embedded(tmp_path):
    """An output folder after the embed step: three users' 2-dim embeddings."""
    from recbole_llmkd.profiles.embed import save_matrix

    out = tmp_path / "out"
    out.mkdir()
    save_matrix(str(out / "embeddings.npz"), ["1", "2", "3"], np.eye(3, 2))
    return out


@pytest.mark.parametrize("content, why", [
    (b"n_components: 32\n", r"not a pickled reducer \(UnpicklingError: "),
    (b"", r"not a pickled reducer \(EOFError: "),
    (pickle.dumps(PCA(n_components=1).fit(np.eye(3, 2)))[:40], r"not a pickled reducer \("),
    (pickle.dumps({"components": [1, 2]}), r"holds a dict, not a fitted reducer \(no transform method\)"),
], ids=["text", "empty", "truncated", "not-a-reducer"])
def test_a_trusted_file_that_is_not_a_reducer_is_one_line(embedded, key_file, tmp_path, capsys, content, why):
    path = tmp_path / "given.pkl"
    path.write_bytes(content)
    argv = ["reduce", "--output-dir", str(embedded), "--reducer-file", str(path), "--trust-reducer-file"]
    assert run_cli(main, "p", argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(rf"p: error: reducer_file {re.escape(str(path))}: {why}", err), err
    assert sorted(os.listdir(embedded)) == ["embeddings.npz"]  # no reduced.npz, no reducer.pkl


# -- embed with no profile: refused before anything is written


def test_embed_after_a_generate_where_every_request_failed_writes_nothing(converted, served, openai_server,
                                                                          tmp_path, capsys):
    out = tmp_path / "out"
    openai_server.enqueue(*[("echo", 400)] * 3)
    generate = ["generate", "-d", "ml-20m", "--data-path", converted, "--output-dir", str(out), "--quiet",
                "--max-retries", "0", *served]
    assert run_cli(main, "p", generate) == 1
    assert (out / "profiles.jsonl").read_text() == ""
    capsys.readouterr()
    assert run_cli(main, "p", ["embed", "-d", "ml-20m", "--data-path", converted, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"p: error: {out}: profiles.jsonl hold(s) no profile (the generate run made none: see its "
                   "generate*.summary.json for the failures); run generate again before embed "
                   "(--debug shows the traceback)\n")
    assert not (out / "embeddings.npz").exists() and not (out / "embeddings.jsonl").exists()


def test_embed_with_no_profile_keeps_the_earlier_embeddings(embedded, capsys):
    (embedded / "profiles.jsonl").write_text("")
    before = (embedded / "embeddings.npz").read_bytes()
    assert run_cli(main, "p", ["embed", "--output-dir", str(embedded)]) == 2
    assert "profiles.jsonl hold(s) no profile" in capsys.readouterr().err
    assert (embedded / "embeddings.npz").read_bytes() == before
