import gzip

import pytest


def read_rows(path):
    """A written atomic file as its header and rows of cells."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def expect_conversion_error(dataset, raw, out, name, old, new, message):
    """Replace ``old`` by ``new`` in the raw file ``name``: converting must fail with ``message``
    and leave no output folder."""
    from dataset_converters import ConversionError, convert

    path = raw / name
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConversionError, match=message):
        convert(dataset, raw, out)
    assert not out.exists()


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
