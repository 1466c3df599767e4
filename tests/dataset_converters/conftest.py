import gzip

import pytest


def read_rows(path):
    """A written atomic file as its header and rows of cells."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


@pytest.fixture
def write():
    def _write(path, text, compress=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        if compress:
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write
