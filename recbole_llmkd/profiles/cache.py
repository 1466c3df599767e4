"""Append-only JSONL caches that survive being killed at any moment.

One JSON object a line. A batch of records is appended with a single ``write`` followed by
``fsync``, so a crash can leave at most one partial last line; opening the cache for writing cuts
such a line off, and reading skips any line that is not a complete JSON object. Records are looked
up by their key fields; when a key appears twice, the later record wins. A file named ``*.gz`` is
read through gzip (a shipped cache is read-only and tens of MB for a large dataset uncompressed).
"""

import glob
import gzip
import json
import os
import zlib


class JsonlCache:
    def __init__(self, path, key_fields):
        self.path = path
        self.key_fields = tuple(key_fields)

    def key(self, record):
        return tuple(record[name] for name in self.key_fields)

    def read(self, pattern=None):
        """``{key: record}`` from this file, or from every file matching ``pattern`` (e.g. all shards)."""
        paths = sorted(glob.glob(pattern)) if pattern else [self.path]
        records = {}
        for path in paths:
            for record in read_records(path):
                if all(name in record for name in self.key_fields):
                    records[self.key(record)] = record
        return records

    def append(self, records):
        if not records:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        drop_partial_last_line(self.path)
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())


def read_records(path):
    """The complete JSON objects of a JSONL file (gzip-compressed when it ends in ``.gz``), in order; a
    missing file reads as empty. A damaged gzip file is a ValueError that names it."""
    if not os.path.exists(path):
        return []
    if not path.endswith(".gz"):
        with open(path, encoding="utf-8", errors="replace") as f:
            return complete_records(f)
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            return complete_records(f)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a complete gzip file ({error})") from None


def complete_records(lines):
    """The JSON objects among ``lines``, up to a partial last line (an interrupted append)."""
    records = []
    for line in lines:
        if not line.endswith("\n"):
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def drop_partial_last_line(path):
    """Cut an interrupted append (bytes after the last newline) off the end of ``path``."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        block = 1 << 16
        position = size
        while position > 0:
            start = max(0, position - block)
            f.seek(start)
            chunk = f.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                f.truncate(start + newline + 1)
                return
            position = start
        f.truncate(0)
