import os

import numpy as np
import pytest

from recbole_llmkd.formats.files import read_atomic, write_profile_file


def test_read_atomic_strips_types_and_keeps_tokens_as_text(tmp_path):
    path = tmp_path / "x.item"
    path.write_text("item_id:token\ttitle:token_seq\tprice:float\n007\tNA Story\t\n2\tB\t1.5\n")
    frame, types = read_atomic(path)
    assert types == {"item_id": "token", "title": "token_seq", "price": "float"}
    assert frame["item_id"].tolist() == ["007", "2"]
    assert frame["title"].tolist() == ["NA Story", "B"]
    assert np.isnan(frame["price"][0]) and frame["price"][1] == 1.5


def test_read_atomic_rejects_a_bad_header(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id\n1\t2\n")
    with pytest.raises(ValueError, match=r"x\.inter line 1, column 2: header cell 'item_id'"):
        read_atomic(path)


def test_write_profile_file_exact_rows(tmp_path):
    path = write_profile_file(tmp_path / "p.user", ["u1", "u2"], [[0.5, -1.0], [0.25, 3.0]], field="emb")
    assert path.read_text() == "user_id:token\temb:float_seq\nu1\t0.5 -1.0\nu2\t0.25 3.0\n"


@pytest.mark.parametrize(
    "users, vectors, message",
    [(["a"], [[1.0], [2.0]], "one vector per user"), (["a", "b"], [[1.0], [np.nan]], "user 'b'.*NaN"),
     (["a", "b"], [[1.0], [-4e38]], "user 'b' has a value that does not fit float32")],
)
def test_bad_vectors_leave_the_existing_file_untouched(tmp_path, users, vectors, message):
    path = tmp_path / "p.user"
    path.write_text("previous content\n")
    with pytest.raises(ValueError, match=message):
        write_profile_file(path, users, vectors)
    assert path.read_text() == "previous content\n"
    assert os.listdir(tmp_path) == ["p.user"]


def test_failure_at_the_rename_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    import recbole_llmkd.formats.files as atomic

    def failing_replace(src, dst):
        assert open(src).read().startswith("user_id:token")  # the new file was complete
        raise KeyboardInterrupt

    path = tmp_path / "p.user"
    path.write_text("previous content\n")
    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        write_profile_file(path, ["a", "b"], [[1.0], [2.0]])
    assert path.read_text() == "previous content\n"
    assert os.listdir(tmp_path) == ["p.user"]


@pytest.mark.parametrize("mode,data", [("w", "new"), ("wb", b"new")])
def test_atomic_open_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path, mode, data):
    from recbole_llmkd.formats.files import atomic_open

    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(str(path), mode) as f:
            f.write(data)
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f"]
    with atomic_open(str(path), mode) as f:
        f.write(data)
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["f"]
