"""``--shard i/n``: a deterministic split of users so several machines can generate at once.

A user belongs to shard ``sha256(user id) mod n``: independent of the order or number of users, so
every user is in exactly one shard, and the shards' cache files simply merge (the embed step reads
them all).
"""

import hashlib

from recbole_llmkd.profiles.config import parse_shard


def shard_of(user, count):
    digest = hashlib.sha256(str(user).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(users, shard):
    """The users (in their order) that belong to ``shard`` (``"i/n"`` or ``(i, n)``)."""
    index, count = parse_shard(shard) if isinstance(shard, str) else shard
    return [u for u in users if shard_of(u, count) == index]


def shard_file_suffix(shard):
    index, count = parse_shard(shard)
    return "" if count == 1 else f".shard-{index}-of-{count}"
