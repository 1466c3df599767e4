"""Read and check a profile ``.user`` file line by line, before RecBole's reader sees it.

RecBole reads atomic files with pandas and fails on a malformed one deep inside pandas or numpy, with
no file, line or user (an empty file, a BOM, spaces instead of tabs, commas in a vector). This reader
checks the same text RecBole will parse, with RecBole's separators, and stops at the first problem with
the file, the line and the user. Both the KD dataset (before training) and ``profiles check`` use it.

The format::

    user_id:token<TAB>profile_emb:float_seq
    196<TAB>0.8125 -1.5 0.25 3.0

Other columns may be present. A row's profile cell may be empty ("no profile"); every non-empty
vector has the same length, every value is finite and fits float32 (the models compute in float32).
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from recbole_llmkd.formats.files import header_types

FLOAT32_MAX = float(np.finfo(np.float32).max)
BOM = b"\xef\xbb\xbf"


class ProfileFileError(ValueError):
    """The profile ``.user`` file is missing or not what the KD models need."""


@dataclass
class ProfileTable:
    users: list  # user tokens, file order
    vectors: np.ndarray  # [len(users), dim] float64; a row of zeros where the cell was empty
    lines: list  # the file line of each row (the header is line 1)

    def present(self):
        """Boolean per row: the row holds a profile (a non-empty vector that is not all zeros)."""
        return np.any(self.vectors != 0, axis=1)


def _decode(path, raw, encoding):
    if raw.startswith(BOM):
        raise ProfileFileError(
            f"{path}: the file starts with a byte-order mark (BOM), which RecBole reads as part of the "
            "first field's name; save it as UTF-8 without BOM"
        )
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ProfileFileError(
            f"{path} line {line}: not valid {encoding} text (byte {raw[error.start]:#04x}; config key "
            "'encoding')"
        ) from None


def _vector(path, line, user, field, cell, seq_separator):
    values = []
    for text in cell.split(seq_separator):
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            hint = "; values are separated by spaces, not commas" if "," in text else ""
            raise ProfileFileError(
                f"{path} line {line} (user {user!r}): {text!r} in field {field!r} is not a number; expected "
                f"numbers separated by {seq_separator!r}{hint}"
            ) from None
        if value != value or abs(value) == float("inf"):
            raise ProfileFileError(f"{path} line {line} (user {user!r}): profile contains NaN or inf")
        if abs(value) > FLOAT32_MAX:
            raise ProfileFileError(
                f"{path} line {line} (user {user!r}): profile value {text} does not fit float32 "
                f"(|value| <= {FLOAT32_MAX:.4g}), which the models compute in"
            )
        values.append(value)
    return values


def read_profile_file(path, user_field="user_id", profile_field="profile_emb", *, field_separator="\t",
                      seq_separator=" ", encoding="utf-8", expected_dim=None):
    """The checked rows of ``path`` as a :class:`ProfileTable`; a :class:`ProfileFileError` naming the
    file, line and user at the first problem."""
    with open(path, "rb") as f:
        raw = f.read()
    lines = _decode(path, raw, encoding).replace("\r\n", "\n").split("\n")
    expected_header = f"'{user_field}:token{field_separator}{profile_field}:float_seq'"
    if not raw.strip():
        raise ProfileFileError(f"{path}: the file is empty; expected the header {expected_header} and a row per user")
    types = header_types(path, lines[0], field_separator, ProfileFileError)
    names = list(types)
    if types.get(profile_field) is None:
        raise ProfileFileError(
            f"{path}: the header has no field '{profile_field}:float_seq' (config key 'kd_profile_field'); "
            "point config key 'kd_profile_file' at the .user file that holds the profiles"
        )
    if types[profile_field] != "float_seq":
        raise ProfileFileError(
            f"{path}: field {profile_field!r} is declared as {types[profile_field]}; expected float_seq"
        )
    if types.get(user_field) != "token":
        raise ProfileFileError(f"{path}: the header has no field '{user_field}:token' (the dataset's USER_ID_FIELD)")
    user_column, profile_column = names.index(user_field), names.index(profile_field)
    users, vectors, line_numbers, first_line = [], [], [], {}
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue  # RecBole's reader skips blank lines
        cells = text.split(field_separator)
        if len(cells) != len(names):
            raise ProfileFileError(
                f"{path} line {number}: {len(cells)} field(s), expected {len(names)} as in the header "
                f"(columns are separated by {field_separator!r})"
            )
        user = cells[user_column]
        if not user.strip():
            raise ProfileFileError(f"{path} line {number}: the field {user_field!r} is empty")
        if user in first_line:
            raise ProfileFileError(
                f"{path} line {number}: user {user!r} has more than one row (first on line {first_line[user]})"
            )
        first_line[user] = number
        users.append(user)
        vectors.append(_vector(path, number, user, profile_field, cells[profile_column], seq_separator))
        line_numbers.append(number)
    if not users:
        raise ProfileFileError(f"{path}: the file has a header and no rows; expected a row per user")
    lengths = [len(v) for v in vectors if v]
    if not lengths:
        raise ProfileFileError(f"{path}: no user has a profile vector in field {profile_field!r}")
    dim = expected_dim or Counter(lengths).most_common(1)[0][0]
    for user, vector, number in zip(users, vectors, line_numbers):
        if vector and len(vector) != dim:
            raise ProfileFileError(
                f"{path} line {number} (user {user!r}): profile has {len(vector)} values, expected {dim}"
            )
    matrix = np.zeros((len(users), dim))
    for row, vector in enumerate(vectors):
        if vector:
            matrix[row] = vector
    table = ProfileTable(users, matrix, line_numbers)
    if not table.present().any():
        raise ProfileFileError(f"{path}: every profile vector in field {profile_field!r} is all zeros, which "
                               "means \"no profile\"; no user would be distilled")
    return table
