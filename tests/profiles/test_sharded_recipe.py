"""The README's many-machines recipe: one OpenAI-compatible server and one ``generate --shard i/n``
per machine, the output folders merged by copying the files together, then the remaining steps
once; no user is generated twice and the ``.user`` file covers everyone."""

import shutil

import pytest

from recbole_llmkd.formats.files import read_atomic
from recbole_llmkd.profiles.cli import main
from recbole_llmkd.profiles.sharding import in_shard
from tests.profiles.conftest import TOY_INTERACTIONS
from tests.profiles.openai_server import OpenAIServer

USERS = sorted({u for u, *_ in TOY_INTERACTIONS})


@pytest.fixture
def pipeline_yaml(toy_dataset, tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"data_path: {toy_dataset}\nnormalized_time: false\n"
                    "item_fields: [movie_title, release_year, class]\nlist_fields: [class]\n"
                    "backend: openai\nmodel: tiny\ncontext_length: 4096\nreducer: pca\nn_components: 2\n")
    return path


def test_two_machines_two_servers_then_merge(pipeline_yaml, tmp_path):
    machines = [tmp_path / f"machine{i}" for i in range(2)]
    with OpenAIServer() as first, OpenAIServer() as second:
        for i, (server, folder) in enumerate(zip((first, second), machines)):
            summaries = main(["generate", "--config", str(pipeline_yaml), "-d", "toy", "--shard", f"{i}/2",
                              "--base-url", server.base_url, "--output-dir", str(folder), "--quiet"])
            assert summaries["generate"]["generated"] == len(in_shard(USERS, f"{i}/2"))
            assert summaries["generate"]["failed"] == 0
        # one request per user (the toy histories fit one prompt), each on its own shard's server
        assert (len(first.requests), len(second.requests)) == (len(in_shard(USERS, "0/2")), len(in_shard(USERS, "1/2")))
        assert sorted(p.name for p in machines[1].iterdir()) == [
            "generate.shard-1-of-2.summary.json", "generations.shard-1-of-2.jsonl", "profiles.shard-1-of-2.jsonl"]

        for path in machines[1].iterdir():  # the merge: copy the files together
            shutil.copy(path, machines[0] / path.name)
        summaries = main(["all", "--config", str(pipeline_yaml), "-d", "toy", "--base-url", first.base_url,
                          "--output-dir", str(machines[0]), "--quiet"])
        sent = (len(first.requests), len(second.requests))
    assert sent == (2, 1)  # the merged run generated nothing: every user was in a shard's cache
    assert (summaries["generate"]["cached"], summaries["generate"]["generated"]) == (len(USERS), 0)
    assert summaries["embed"]["users"] == len(USERS)
    table, types = read_atomic(str(machines[0] / "toy.user"))
    assert sorted(table["user_id"].astype(str)) == USERS and types["profile_emb"] == "float_seq"
    assert all(len(str(v).split()) == 2 for v in table["profile_emb"])
