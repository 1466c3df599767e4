"""What every converter shares: input checks, text cleaning, filters, the atomic-file writer and the
summary. Readers (one module per dataset) return DataFrames; this module turns them into RecBole
atomic files.

Conventions of the output:

* ``<name>.inter``: ``user_id:token item_id:token [rating:float] timestamp:float [...]``, sorted by
  user, then time, ties in a documented, deterministic order. RecBole stores the time field as
  float32 (about 128 s resolution for unix seconds) and sorts stably, so the file order is what
  settles near-ties; writing the file already in sequence order makes that order the intended one.
* ``<name>.item`` / ``<name>.user``: one row per id, text fields as ``token`` (cleaned: HTML entities
  decoded, whitespace including tabs and newlines collapsed, long texts truncated with a marker),
  lists as ``token_seq`` (spaces inside an element become ``_``).
* Fields are tab-separated; a field containing a double quote is written quoted with the quote
  doubled, which is how RecBole's reader (pandas ``read_csv``) reads it back unchanged.
"""

import csv
import html
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbole_llmkd.formats.files import read_atomic, staged_file
from recbole_llmkd.user_errors import DEBUG_FLAG, DEBUG_HELP

TRUNCATION_MARKER = " [...]"


class ConversionError(ValueError):
    """Bad raw input: the message names the file, line or column and what was expected."""


def find_input(folder, *candidates):
    """The first of ``candidates`` (file names) present in ``folder``."""
    for name in candidates:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise ConversionError(f"{folder}: none of {list(candidates)} found")


def optional_input(folder, *candidates):
    try:
        return find_input(folder, *candidates)
    except ConversionError:
        return None


def require_columns(frame, columns, path):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConversionError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")


def numeric_column(frame, column, path, header_lines=1, integer=False):
    """``frame[column]`` as float, or an error naming the first line that is not a number (with
    ``integer``: not a whole number that fits int64)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if integer:
        bad |= values.notna() & ((values.abs() >= 2.0 ** 63) | (values != values.round()))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConversionError(
            f"{path} line {row + 1 + header_lines}: column {column!r} is {frame[column].iloc[row]!r}, "
            f"expected {'a whole number' if integer else 'a number'}"
        )
    return values


def check_range(values, column, path, low, high, header_lines=1, what=""):
    """Refuse a missing, infinite or out-of-range value of ``values`` (rows in file order), naming
    its line: a silently kept NaN rating or a timestamp in year 5000 corrupts the sequences."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers) | (numbers < low) | (numbers > high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = "empty" if pd.isna(values.iloc[row]) else repr(str(values.iloc[row]))
        raise ConversionError(
            f"{path} line {row + 1 + header_lines}: column {column!r} is {shown}, expected a finite number "
            f"in [{low:.10g}, {high:.10g}]{what}"
        )
    return values


# unix seconds from 1970 to 2100-01-01: later values are corrupt or in other units (ms, µs)
MAX_TIMESTAMP = 4102444800


def check_timestamps(values, column, path, header_lines=1):
    return check_range(values, column, path, 0, MAX_TIMESTAMP, header_lines,
                       " (unix seconds up to 2100-01-01; milliseconds must be converted)")


def unique_ids(frame, column, path, header_lines=1):
    """Refuse an id that has a second row, naming both lines."""
    duplicated = frame[column].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        value = frame[column].iloc[row]
        first = int(np.flatnonzero((frame[column] == value).to_numpy())[0])
        raise ConversionError(
            f"{path} line {row + 1 + header_lines}: {column} {value!r} already had a row on line "
            f"{first + 1 + header_lines}"
        )


def ends_without_newline(path):
    """Whether the plain file ``path`` is non-empty and its last byte is not a newline (a ``.gz`` file
    cut short fails to decompress instead, so it is not looked at here)."""
    if str(path).endswith(".gz"):
        return False
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return False
        f.seek(size - 1)
        return f.read(1) not in (b"\n", b"\r")


def check_cut_last_line(frame, column, path, header_lines=1):
    """Refuse a last line that looks cut off inside its final field ``column``: the file does not end
    with a newline (a download or copy that stopped mid-line) and that field is shorter than on every
    other line (a timestamp of a few digits among ten-digit ones parses as a valid, wrong number). A
    last line without a newline whose field looks complete is kept, as many writers omit it."""
    if len(frame) < 2 or not ends_without_newline(path):
        return
    text = frame[column].astype(str)
    last, others = text.iloc[-1], text.iloc[:-1].str.len()
    if len(last) < others.min():
        raise ConversionError(
            f"{path} line {len(frame) + header_lines}: the file ends without a newline inside column {column!r} "
            f"({last!r}, shorter than on every other line, which have {others.min()} characters or more): the "
            "file looks cut off; copy it again, or end the last line with a newline if it is complete"
        )


def require_rows(frame, path, what):
    if frame.empty:
        raise ConversionError(f"{path}: the file has no {what}")


def _undecodable(path, err):
    """A ConversionError naming the first line of ``path`` that is not UTF-8 (decoders report a byte
    offset into a buffer, which is not something a user can find)."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as line_err:
                return ConversionError(
                    f"{path} line {number}: not UTF-8 text (byte {line[line_err.start]:#04x} at column "
                    f"{line_err.start + 1})"
                )
    return ConversionError(f"{path}: not UTF-8 text ({err})")


def read_text_lines(path):
    """The lines of a text file (``.gz`` too), decoded as UTF-8, or a clear error."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as err:
        raise _undecodable(path, err) from None
    except (OSError, EOFError) as err:
        raise ConversionError(f"{path}: cannot read ({err})") from None


def _parser_error(path, err):
    """pandas' tokenizer message, reworded to name the file and line like the other errors."""
    import re

    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
    if found:
        expected, line, saw = found.groups()
        return ConversionError(f"{path} line {line}: {saw} fields, expected {expected}")
    return ConversionError(f"{path}: {err}")


def read_csv(path, **kwargs):
    """``pandas.read_csv`` with the file named in every error (tokenizing errors carry the line)."""
    try:
        return pd.read_csv(path, encoding="utf-8", **kwargs)
    except UnicodeDecodeError as err:
        raise _undecodable(path, err) from None
    except (pd.errors.ParserError, ValueError) as err:
        raise _parser_error(path, err) from None


def read_typed_csv(path, dtypes, columns):
    """A CSV with a header read with compact dtypes (fast, small: what 20M rows need). On a bad
    value the file is read again as text to name the first bad line and column. All columns are
    parsed (no ``usecols``), so a row with more fields than the header is an error, not truncated, and
    a last line cut inside its final field is refused (:func:`check_cut_last_line`)."""
    try:
        frame = pd.read_csv(path, dtype=dtypes, encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _undecodable(path, err) from None
    except pd.errors.ParserError as err:
        raise _parser_error(path, err) from None
    except (ValueError, OverflowError):
        raw = read_csv(path, dtype=str, keep_default_na=False)
        for column in dtypes:
            if column in raw.columns and dtypes[column] != str:
                numeric_column(raw, column, path, integer=str(dtypes[column]).startswith("int"))
        raise ConversionError(f"{path}: a value does not fit the types {dtypes}") from None
    require_columns(frame, columns, path)
    check_cut_last_line(frame, frame.columns[-1], path)  # the file's last column, before selecting
    return frame[columns]


def clean_text(values, max_chars=1000):
    """Decode HTML entities, collapse whitespace (tabs and newlines too), strip, truncate."""
    text = values.fillna("").astype(str).map(html.unescape)
    text = text.str.replace(r"<[^>]{1,200}>", " ", regex=True)  # HTML tags in descriptions
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    too_long = text.str.len() > max_chars
    if too_long.any():
        keep = max_chars - len(TRUNCATION_MARKER)
        text = text.where(~too_long, text.str.slice(0, keep).str.rstrip() + TRUNCATION_MARKER)
    return text


def text_columns(frame, columns, max_chars):
    """The ``columns`` of ``frame`` cleaned with :func:`clean_text`; absent columns come out empty."""
    empty = pd.Series("", index=frame.index)
    return pd.DataFrame({c: clean_text(frame[c] if c in frame.columns else empty, max_chars) for c in columns},
                        index=frame.index)


def token_list(values):
    """A column of lists of strings as RecBole ``token_seq`` text: cleaned, ``_`` for spaces."""
    def join(items):
        return " ".join(
            " ".join(html.unescape(str(x)).split()).replace(" ", "_") for x in items if str(x).strip()
        )

    return values.map(lambda items: join(items) if isinstance(items, (list, tuple, np.ndarray)) else "")


def filter_interactions(inter, min_user_inter=0, min_item_inter=0, k_core=False,
                        user_field="user_id", item_field="item_id"):
    """Drop users / items with fewer interactions than the minimums; with ``k_core``, repeat until
    every remaining user and item meets them."""
    while True:
        user_counts = inter[user_field].map(inter[user_field].value_counts())
        item_counts = inter[item_field].map(inter[item_field].value_counts())
        keep = (user_counts >= min_user_inter) & (item_counts >= min_item_inter)
        if keep.all():
            return inter
        inter = inter[keep.to_numpy()]
        if not k_core:
            return inter


def order_interactions(inter, tie_break=(), user_field="user_id", time_field="timestamp"):
    """Sort by user, time, then ``tie_break`` columns, stably (file order last)."""
    return inter.sort_values([user_field, time_field, *tie_break], kind="stable").reset_index(drop=True)


def position_in_sequence(users):
    """0, 1, 2, ... within each user's rows, in row order: a monotone order field when the raw
    data has a sequence but no timestamps."""
    return users.groupby(users, sort=False).cumcount().astype(np.float64)


@dataclass
class AtomicTable:
    """A DataFrame and the RecBole type of each of its columns, in order."""

    frame: pd.DataFrame
    types: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # what the reader kept but a user should know (counts)

    def header(self):
        return "\t".join(f"{name}:{ftype}" for name, ftype in self.types.items())


def _write_table(table, path):
    frame = table.frame[list(table.types)]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(table.header() + "\n")
        frame.to_csv(f, sep="\t", header=False, index=False, quoting=csv.QUOTE_MINIMAL,
                     lineterminator="\n", float_format="%.10g")


ATOMIC_SUFFIXES = ("inter", "item", "user", "kg", "link", "net")


def output_folder(output_dir, name):
    """``<output_dir>/<name>``, or an error before any work when a path on the way is a file."""
    for path in (output_dir, os.path.join(output_dir, name)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise ConversionError(f"--output {output_dir}: {path} is a file; expected a folder (RecBole's data_path)")
    return os.path.join(output_dir, name)


def write_dataset(output_dir, name, tables, extra_files=None):
    """Write ``<output_dir>/<name>/<name>.<suffix>`` for each ``suffix: AtomicTable``, all or nothing.

    Every file is first written under a temporary name in the target folder; only when all are
    complete are they renamed into place, so a failure leaves the previous files (if any) intact.

    A folder that holds a file of the dataset this conversion would not replace (a ``kion.user`` from
    an earlier input that had ``users.csv``, or a profile file) is refused before anything is written:
    the new files would sit next to it as a mix of two conversions, and deleting it could lose work.
    Temporary files a killed conversion left behind are removed. Returns ``(folder, removed)``."""
    folder = output_folder(output_dir, name)
    os.makedirs(folder, exist_ok=True)
    targets = {f"{name}.{suffix}" for suffix in tables} | set(extra_files or {})
    ours = {f"{name}.{suffix}" for suffix in ATOMIC_SUFFIXES} | {f"{name}.yaml"}
    entries = sorted(os.listdir(folder))
    stale = [entry for entry in entries if entry in ours - targets]
    if stale:
        raise ConversionError(
            f"{folder} holds {', '.join(stale)} from an earlier conversion, which this one does not write: "
            "the folder would mix two conversions; move or delete it, or convert to another --output or --name"
        )
    removed = []
    for entry in entries:
        if entry.startswith(".tmp-") and entry[len(".tmp-"):].startswith(f"{name}."):
            os.unlink(os.path.join(folder, entry))
            removed.append(entry)
    staged = []
    try:
        for suffix, table in tables.items():
            tmp = staged_file(folder, f"{name}.{suffix}")
            staged.append((tmp, os.path.join(folder, f"{name}.{suffix}")))
            _write_table(table, tmp)
        for file_name, text in (extra_files or {}).items():
            tmp = staged_file(folder, file_name)
            staged.append((tmp, os.path.join(folder, file_name)))
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    return folder, removed


@dataclass
class Summary:
    name: str
    users: int
    items: int
    interactions: int
    fields: dict
    notes: list = field(default_factory=list)

    @property
    def density(self):
        return self.interactions / (self.users * self.items)

    @property
    def mean_length(self):
        return self.interactions / self.users

    def table(self):
        head = f"{'dataset':14s}{'users':>10s}{'items':>10s}{'interactions':>14s}{'density':>10s}{'avg len':>9s}"
        row = (f"{self.name:14s}{self.users:10,d}{self.items:10,d}{self.interactions:14,d}"
               f"{self.density:10.5f}{self.mean_length:9.2f}")
        fields = "; ".join(f"{suffix}: {', '.join(cols)}" for suffix, cols in self.fields.items())
        notes = "".join(f"\nnote: {note}" for note in self.notes)
        return f"{head}\n{row}\nfields: {fields}{notes}"


def finish(name, output_dir, inter, item=None, user=None, yaml_text=None,
           min_user_inter=0, min_item_inter=0, k_core=False, min_rating=None, drop_repeats=False):
    """Filter, check, write and summarise one converted dataset. ``inter``, ``item`` and ``user``
    are AtomicTables; items and users without interactions after filtering are dropped.

    Filters, in this order: ``min_rating`` (interactions rated lower are dropped; an error for a
    dataset without ratings), ``drop_repeats`` (keep only a user's first interaction with an item;
    by default repeats are kept, as they are real consumption), then the count filters."""
    frame = inter.frame
    if min_rating is not None:
        if "rating" not in inter.types:
            raise ConversionError(f"{name}: min_rating given, but this input has no ratings")
        frame = frame[frame["rating"] >= min_rating]
    if drop_repeats:
        frame = frame.drop_duplicates(["user_id", "item_id"], keep="first")
    frame = filter_interactions(frame, min_user_inter, min_item_inter, k_core)
    if frame.empty:
        raise ConversionError(
            f"{name}: no interaction left after filtering (min_rating={min_rating}, drop_repeats={drop_repeats}, "
            f"min_user_inter={min_user_inter}, min_item_inter={min_item_inter}, k_core={k_core})"
        )
    tables = {"inter": AtomicTable(frame, inter.types)}
    if item is not None:
        kept = item.frame[item.frame["item_id"].isin(frame["item_id"])]
        tables["item"] = AtomicTable(kept, item.types)
    if user is not None:
        kept = user.frame[user.frame["user_id"].isin(frame["user_id"])]
        tables["user"] = AtomicTable(kept, user.types)
    extra = {f"{name}.yaml": yaml_text} if yaml_text else None
    folder, removed = write_dataset(output_dir, name, tables, extra)
    notes = [note for table in (inter, item, user) if table is not None for note in table.notes]
    if removed:
        notes.append(f"removed {', '.join(removed)}: temporary files of a conversion that was killed")
    summary = Summary(
        name=name, users=frame["user_id"].nunique(), items=frame["item_id"].nunique(),
        interactions=len(frame), fields={suffix: list(t.types) for suffix, t in tables.items()}, notes=notes,
    )
    return folder, summary


def read_source_inter(inter_path, fields):
    """``(frame, types)`` of the ``.inter`` file a derived protocol (temporal split, cold start) starts
    from; a missing file or a missing column is a ConversionError that names the file."""
    if not os.path.exists(inter_path):
        raise ConversionError(f"{inter_path} does not exist")
    inter, types = read_atomic(inter_path)
    for name in fields:
        if name not in inter.columns:
            raise ConversionError(f"{inter_path}: no column {name!r} (columns: {list(inter.columns)})")
    return inter, types


def derived_dataset_main(argv, prog, description, suffix, add_options, derive):
    """The command line of a derived protocol: the shared options (:func:`derived_dataset_parser`),
    the protocol's own (``add_options(parser)``), then ``derive(args, inter_path)``, which writes the
    derived dataset and returns the lines to print."""
    from recbole_llmkd.formats.files import dataset_files

    parser = derived_dataset_parser(prog, description, suffix)
    add_options(parser)
    args = parser.parse_args(argv)
    inter_path, _ = dataset_files(args.dataset, args.data_path)
    for line in derive(args, inter_path):
        print(line)
    return 0


def derived_dataset_parser(prog, description, suffix):
    """The command line shared by the protocols derived from an atomic dataset (temporal split,
    cold start): which dataset, where it is, where the derived one goes and its name."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--dataset", "-d", default="ml-100k", help="the atomic dataset to derive from")
    parser.add_argument("--data-path", default=None, help="folder holding <dataset>/ (ml-100k: RecBole's copy)")
    parser.add_argument("--output", required=True, help="RecBole data_path for the derived dataset")
    parser.add_argument("--name", default=None, help=f"default: <dataset>-{suffix}")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)
    return parser
