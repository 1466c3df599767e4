import gzip
import json

import pytest

from recbole_llmkd.profiles.cache import JsonlCache, drop_partial_last_line, read_records


@pytest.fixture
def cache(tmp_path):
    return JsonlCache(str(tmp_path / "sub" / "cache.jsonl"), ("user", "model"))


def test_append_then_read_by_key_later_record_wins(cache):
    cache.append([{"user": "1", "model": "m", "text": "a"}, {"user": "2", "model": "m", "text": "b"}])
    cache.append([{"user": "1", "model": "m", "text": "c"}])
    assert {k: r["text"] for k, r in cache.read().items()} == {("1", "m"): "c", ("2", "m"): "b"}


def test_a_truncated_last_line_is_ignored_then_cut_off_before_the_next_append(cache):
    cache.append([{"user": "1", "model": "m", "text": "a"}])
    with open(cache.path, "a") as f:  # a crash in the middle of an append
        f.write('{"user": "2", "model": "m", "te')
    assert list(cache.read()) == [("1", "m")]
    cache.append([{"user": "2", "model": "m", "text": "b"}])
    lines = open(cache.path).read().splitlines()
    assert [json.loads(line)["user"] for line in lines] == ["1", "2"]


@pytest.mark.parametrize("content,kept", [
    (b"", b""), (b"{}\n", b"{}\n"), (b"{}\n{\"a\"", b"{}\n"), (b"{\"a\"", b""),
    (b"{}\n" + b"x" * 70000, b"{}\n"),
])
def test_drop_partial_last_line(tmp_path, content, kept):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    drop_partial_last_line(str(path))
    assert path.read_bytes() == kept


def test_reading_skips_bad_lines_and_records_without_the_key(tmp_path):
    with open(tmp_path / "c.jsonl", "w") as f:
        f.write('not json\n[1, 2]\n{"user": "1"}\n{"user": "1", "model": "m"}\n')
    assert len(read_records(str(tmp_path / "c.jsonl"))) == 2
    assert list(JsonlCache(str(tmp_path / "c.jsonl"), ("user", "model")).read()) == [("1", "m")]


def test_read_merges_every_file_matching_a_pattern(tmp_path):
    for i in range(3):
        JsonlCache(str(tmp_path / f"g.shard-{i}-of-3.jsonl"), ("user",)).append([{"user": str(i)}])
    assert sorted(JsonlCache(str(tmp_path / "x.jsonl"), ("user",)).read(str(tmp_path / "g*.jsonl"))) == [
        ("0",), ("1",), ("2",)]


def test_a_gzip_file_reads_like_the_plain_one_and_its_partial_last_line_is_skipped(tmp_path):
    lines = '{"user": "1", "model": "m", "text": "a"}\n{"user": "2", "model": "m", "text": "b"}\n{"user": "3"'
    with gzip.open(tmp_path / "shipped.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(lines)
    read = JsonlCache(str(tmp_path / "shipped.jsonl.gz"), ("user", "model")).read()
    assert {k: r["text"] for k, r in read.items()} == {("1", "m"): "a", ("2", "m"): "b"}


@pytest.mark.parametrize("damage,why", [
    (lambda data: b"{}\n" + data, "Not a gzipped file"),  # plain text under a .gz name
    (lambda data: data[:len(data) // 2], "ended before the end-of-stream marker"),  # a cut download
])
def test_a_damaged_gzip_file_is_an_error_naming_it(tmp_path, damage, why):
    path = tmp_path / "shipped.jsonl.gz"
    path.write_bytes(damage(gzip.compress(b'{"user": "1", "model": "m"}\n' * 200)))
    with pytest.raises(ValueError, match=rf"^{path}: not a complete gzip file \(.*{why}"):
        read_records(str(path))
