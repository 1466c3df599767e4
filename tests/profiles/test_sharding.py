import pytest

from recbole_llmkd.profiles.config import parse_shard
from recbole_llmkd.profiles.sharding import in_shard, shard_file_suffix

USERS = [str(u) for u in range(1, 944)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_users_exactly(count):
    shards = [in_shard(USERS, f"{i}/{count}") for i in range(count)]
    assert sorted(u for shard in shards for u in shard) == sorted(USERS)
    assert sum(len(s) for s in shards) == len(USERS)
    if count > 1:
        assert all(len(s) > 0.5 * len(USERS) / count for s in shards)


def test_membership_does_not_depend_on_order_or_other_users():
    assert set(in_shard(USERS[::-1], "1/4")) == set(in_shard(USERS, "1/4"))
    assert in_shard(["42"], "0/3") == (["42"] if "42" in in_shard(USERS, "0/3") else [])


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard_strings(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_file_suffix():
    assert shard_file_suffix("0/1") == "" and shard_file_suffix("2/5") == ".shard-2-of-5"
