"""Files every part of the package shares: the model, the profile pipeline, the converters and the
benchmark read and write through here.

* where a dataset's atomic files are, as RecBole resolves them (:func:`dataset_files`);
* RecBole atomic files: read one into a DataFrame with plain column names (:func:`read_atomic`),
  write the profile ``.user`` file (:func:`write_profile_file`);
* all-or-nothing writes: a temporary file in the target folder, renamed over the target at the end
  (:func:`atomic_open`, :func:`write_text_atomic`, :func:`staged_file`).

Header cells are ``name:type`` (``token``, ``float``, ``token_seq``, ``float_seq``), columns are
tab-separated and sequence values space-separated (RecBole's defaults).
"""

import contextlib
import hashlib
import os
import tempfile

import numpy as np
import pandas as pd

FEATURE_TYPES = ("token", "float", "token_seq", "float_seq")


def dataset_files(dataset, data_path=None):
    """``(inter, item)`` paths, resolved as RecBole resolves them (ml-100k: RecBole's bundled copy)."""
    import recbole

    if dataset == "ml-100k" and data_path is None:
        folder = os.path.join(os.path.dirname(recbole.__file__), "dataset_example", "ml-100k")
    else:
        folder = os.path.join(data_path or "dataset", dataset)
    return os.path.join(folder, f"{dataset}.inter"), os.path.join(folder, f"{dataset}.item")


def header_types(path, header, separator="\t", error=ValueError):
    """``{field: type}`` of an atomic file's header line, or ``error`` naming the bad cell (and the
    separator, when spaces were used instead)."""
    cells = header.split(separator)
    if len(cells) == 1 and " " in header.strip():
        raise error(f"{path} line 1: the header {header!r} is one field; columns must be separated by "
                    f"{separator!r} (config key 'field_separator'), not spaces")
    types = {}
    for column, cell in enumerate(cells, start=1):
        name, colon, ftype = cell.partition(":")
        if not colon or not name or ftype not in FEATURE_TYPES:
            raise error(f"{path} line 1, column {column}: header cell {cell!r} is not name:type with type "
                        f"one of {list(FEATURE_TYPES)}")
        types[name] = ftype
    return types


def read_atomic(path):
    """``(frame, types)``: the file with columns renamed to the bare field names, all as strings
    except ``float`` fields, and ``types`` mapping each field to its declared type."""
    with open(path, encoding="utf-8") as f:
        line = f.readline().rstrip("\n")
    types = header_types(path, line)
    header = line.split("\t")
    dtypes = {cell: (float if types[cell.partition(':')[0]] == "float" else str) for cell in header}
    try:
        frame = pd.read_csv(path, sep="\t", dtype=dtypes, keep_default_na=False, na_values={
            cell: [""] for cell in header if types[cell.partition(":")[0]] == "float"})
    except (pd.errors.ParserError, ValueError) as error:  # a malformed line or a float field that is not one
        raise ValueError(f"{path}: {error}") from None
    frame.columns = list(types)
    return frame, types


def file_sha256(path):
    """The sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def staged_file(folder, final_name):
    """A new, empty temporary file in ``folder`` to write ``final_name`` into before renaming it
    over the final path; permissions as a plainly created file would have (mkstemp's are 0600)."""
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".tmp-{final_name}.")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file next to ``path`` for writing and rename it over ``path`` when the block
    ends without error; on error the temporary file is removed and ``path`` is left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = staged_file(folder, os.path.basename(path))
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_text_atomic(path, text):
    """Write ``text`` to ``path``: all or nothing."""
    with atomic_open(path) as f:
        f.write(text)
    return path


def write_profile_file(path, user_ids, vectors, field="profile_emb", user_field="user_id"):
    """Write a ``.user`` atomic file with one ``float_seq`` profile per user, atomically.

    The file appears complete or not at all: it is written to a temporary file in the same folder
    and renamed over ``path``, so an existing file survives any failure."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != len(user_ids):
        raise ValueError(f"expected one vector per user: {len(user_ids)} users, vectors of shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        row = int(np.argwhere(~np.isfinite(vectors))[0][0])
        raise ValueError(f"profile of user {user_ids[row]!r} contains NaN or inf")
    if np.abs(vectors).max(initial=0.0) > np.finfo(np.float32).max:
        row = int(np.argwhere(np.abs(vectors) > np.finfo(np.float32).max)[0][0])
        raise ValueError(f"profile of user {user_ids[row]!r} has a value that does not fit float32")
    with atomic_open(path) as f:
        f.write(f"{user_field}:token\t{field}:float_seq\n")
        for uid, vector in zip(user_ids, vectors):
            f.write(f"{uid}\t{' '.join(repr(float(v)) for v in vector)}\n")
    return path
