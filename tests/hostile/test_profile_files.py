"""Malformed profile ``.user`` files: refused line by line before RecBole's reader (which would fail
inside pandas without naming the file), and files whose users are not the dataset's."""

import logging

import numpy as np
import pytest

from recbole_llmkd.formats.profile_file import FLOAT32_MAX, ProfileFileError, read_profile_file

HEADER = "user_id:token\tprofile_emb:float_seq\n"
# users 4, 9 and 17 have at most 40 interactions, so they survive the SMALL filter below
GOOD = HEADER + "4\t0.1 0.2 0.3 0.4\n9\t1 2 3 4\n17\t-1 0 1 2\n"
SMALL = {"MAX_ITEM_LIST_LENGTH": 20, "user_inter_num_interval": "[0,40]", "train_neg_sample_args": None,
         "state": "INFO"}


def write(tmp_path, content):
    path = tmp_path / "p.user"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_a_good_file(tmp_path):
    table = read_profile_file(write(tmp_path, GOOD.replace("9\t1 2 3 4", "9\t") + "\n\n"))
    assert table.users == ["4", "9", "17"]
    assert table.lines == [2, 3, 4]
    assert table.vectors.tolist() == [[0.1, 0.2, 0.3, 0.4], [0.0] * 4, [-1.0, 0.0, 1.0, 2.0]]
    assert table.present().tolist() == [True, False, True]


def test_windows_line_ends_and_extra_columns_are_read(tmp_path):
    text = "user_id:token\tage:float\tprofile_emb:float_seq\r\n4\t30\t1  2\r\n"
    table = read_profile_file(write(tmp_path, text))
    assert table.users == ["4"] and table.vectors.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("content, message", [
    (b"", r"p\.user: the file is empty; expected the header 'user_id:token\tprofile_emb:float_seq'"),
    (b"\n\n", r"p\.user: the file is empty"),
    (HEADER, r"p\.user: the file has a header and no rows"),
    (b"\xef\xbb\xbf" + GOOD.encode(), r"p\.user: the file starts with a byte-order mark \(BOM\)"),
    (GOOD.encode().replace(b"9\t", b"9\t\xff"), r"p\.user line 3: not valid utf-8 text \(byte 0xff"),
    (GOOD.replace("\t", " "), r"p\.user line 1: the header .* is one field; columns must be separated by '\\t'"),
    (GOOD.replace("17\t", "17 "), r"p\.user line 4: 1 field\(s\), expected 2 as in the header"),
    (GOOD.replace("9\t1 2 3 4", "9\t1 2 3 4\textra"), r"p\.user line 3: 3 field\(s\), expected 2"),
    (GOOD.replace("float_seq", "float"), r"field 'profile_emb' is declared as float; expected float_seq"),
    (GOOD.replace("profile_emb:float_seq", "profile_emb:vector"),
     r"p\.user line 1, column 2: header cell 'profile_emb:vector' is not name:type"),
    (GOOD.replace("user_id:token", "uid:token"), r"the header has no field 'user_id:token'"),
    (GOOD.replace("1 2 3 4", "1,2,3,4"),
     r"p\.user line 3 \(user '9'\): '1,2,3,4' in field 'profile_emb' is not a number; expected numbers "
     r"separated by ' '; values are separated by spaces, not commas"),
    (GOOD.replace("1 2 3 4", "1 two 3 4"), r"line 3 \(user '9'\): 'two' in field 'profile_emb' is not a number"),
    (GOOD.replace("1 2 3 4", "1 2 3 4e39"), r"line 3 \(user '9'\): profile value 4e39 does not fit float32"),
    (GOOD.replace("1 2 3 4", "1 2 -1e308 4"), r"line 3 \(user '9'\): profile value -1e308 does not fit float32"),
    (GOOD.replace("1 2 3 4", "1 2 1e999 4"), r"line 3 \(user '9'\): profile contains NaN or inf"),
    (GOOD.replace("\n9\t", "\n\t"), r"p\.user line 3: the field 'user_id' is empty"),
    (GOOD + "4\t1 1 1 1\n", r"p\.user line 5: user '4' has more than one row \(first on line 2\)"),
    (HEADER + "4\t0 0\n9\t\n", r"p\.user: every profile vector in field 'profile_emb' is all zeros"),
], ids=["empty", "blank-lines", "header-only", "bom", "not-utf8", "spaces-header", "spaces-row", "extra-field",
        "float-not-float-seq", "unknown-type", "no-user-field", "commas", "text", "float32-overflow",
        "float32-overflow-negative", "inf-literal", "empty-user", "duplicate", "all-zero"])
def test_malformed_files_name_file_and_line(tmp_path, content, message):
    with pytest.raises(ProfileFileError, match=message):
        read_profile_file(write(tmp_path, content))


def test_largest_float32_is_accepted(tmp_path):
    table = read_profile_file(write(tmp_path, HEADER + f"4\t{FLOAT32_MAX!r} -1\n"))
    assert np.float32(table.vectors[0, 0]) == np.finfo(np.float32).max


@pytest.fixture
def config(tmp_path):
    return {**SMALL, "checkpoint_dir": str(tmp_path / "saved")}


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (GOOD.replace("1 2 3 4", "1,2,3,4"), r"line 3 \(user '9'\): '1,2,3,4' in field 'profile_emb' is not a number"),
    (GOOD.replace("1 2 3 4", "1 2 3 4e39"), "does not fit float32"),
])
def test_the_dataset_checks_the_file_before_recbole_reads_it(build_data, config, tmp_path, content, message):
    config["kd_profile_file"] = write(tmp_path, content)
    with pytest.raises(ProfileFileError, match=message):
        build_data("SASRecKD", config)


def test_a_file_matching_no_user_is_refused(build_data, config, tmp_path):
    text = GOOD.replace("\n4\t", "\nu4\t").replace("\n9\t", "\nu9\t").replace("\n17\t", "\nu17\t")
    config.update(kd_profile_file=write(tmp_path, text), user_inter_num_interval=None)
    with pytest.raises(ProfileFileError, match=r"p\.user: none of its 3 profiled users is a user of dataset "
                                               r"'ml-100k' with interactions \(943 users\); the file's first user "
                                               r"ids are 'u4', 'u9', 'u17', the dataset's '196', '186', '22'"):
        build_data("SASRecKD", config)


def test_few_profiled_users_are_reported(build_data, config, tmp_path, caplog):
    config["kd_profile_file"] = write(tmp_path, GOOD)
    with caplog.at_level(logging.INFO):
        _, dataset, *_ = build_data("SASRecKD", config)
    users = dataset.profile_coverage()[1]
    assert dataset.profile_coverage() == (3, users)
    assert f"profiles: 3 of {users} users have a profile vector" in caplog.text
    assert "fewer than half of the users are distilled" in caplog.text
