"""Records of a CSV or JSON Lines file, one text field each, as sequences: a list of names
with other columns, say. Each non-empty value of `field` is one sequence ending with the end
token, in characters or tokens, as the lines of a text are (`TextLines`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charlm.data.clean import clean_text
from charlm.data.encoded import TextError, decoded_chunks
from charlm.data.lines import LINE_END, TextLines
from charlm.data.vocab import Vocab

FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}
# What a spreadsheet may separate a CSV file's columns with: a French Excel writes `;`.
DELIMITERS = (",", ";", "\t", "|")
BOM = "\ufeff"


class TextRecords(TextLines):
    """The `field` of each record of CSV files (a header row naming the columns; `.tsv`
    with tabs) or JSON Lines files (`.jsonl`: one object a line), cleaned and stripped.

    A CSV file is read as spreadsheets write it: a UTF-8 byte-order mark (Excel's "CSV
    UTF-8") is dropped, and its separator is `delimiter`, or else the one of `,;` tab `|`
    that splits its header row and first rows alike (`csv.Sniffer`). A record whose field is
    empty or missing is left out; a field no record has, a header naming a column twice, a
    value holding a line break and a JSON value that is not text are refused, naming the
    fix.
    """

    kind = "records"
    what = "file of records"
    described = "records of a file"
    config_keys = (*TextLines.config_keys, "field", "delimiter")

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: Vocab | None = None,
        field: str = "text",
        delimiter: str | None = None,
        **options: Any,
    ) -> None:
        """`options` are `TextLines`' (split, split_seed, units, tokenizer, clean); the units
        are characters unless they say tokens. `delimiter` (one character) separates a CSV
        file's columns; None finds it from the file."""
        super().__init__(path, vocab, **{"units": "chars", **options})
        if not isinstance(field, str) or not field:
            raise TextError(f"data.field={field!r}: the name of the column (or key) to read")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise TextError(
                f"data.delimiter={delimiter!r}: one character, such as ',' or ';' "
                "(quote it: 'data.delimiter=\";\"'), or null to find it from the file"
            )
        self.field = field
        self.delimiter = delimiter

    def read_lines(self) -> list[str]:
        """The non-empty values of `field`, cleaned, in file order."""
        lines = []
        for path in self.paths:
            for where, value in self._values(path):
                cleaned = clean_text(value, self.rules).strip()
                if LINE_END in cleaned:
                    raise TextError(
                        f"{path}, {where}: the {self.field!r} field holds a line break, and a "
                        "record is one sequence; remove it from the file, or replace it with "
                        'a rule: \'data.clean.rules=[{pattern: "\\n", replace: " "}]\''
                    )
                if cleaned:
                    lines.append(cleaned)
        if not lines:
            raise TextError(f"{self.path}: no record has a non-empty {self.field!r} field")
        return lines

    def _values(self, path: Path) -> list[tuple[str, str]]:
        """(where, value) of each record's `field` that is there and not empty."""
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise TextError(
                f"{path}: records are read from {', '.join(FORMATS)} files; rename it or convert it"
            )
        text = "".join(decoded_chunks(path)).removeprefix(BOM)
        if FORMATS[suffix] is None:
            return self._json_values(path, text)
        return self._csv_values(path, text, self.delimiter or self._sniff(text, FORMATS[suffix]))

    def _json_values(self, path: Path, text: str) -> list[tuple[str, str]]:
        values, columns = [], set()
        for where, record in self._json_records(path, text):
            if not isinstance(record, dict):
                raise TextError(f"{path}, {where}: a JSON object was expected")
            columns.update(record)
            value = record.get(self.field)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise TextError(
                    f"{path}, {where}: the {self.field!r} field holds a JSON "
                    f"{_json_type(value)}, not text; write it as a string, or give "
                    "data.field= a field that holds text"
                )
            values.append((where, value))
        self._check_field(path, sorted(columns))
        return values

    @staticmethod
    def _json_records(path: Path, text: str) -> list[tuple[str, Any]]:
        """(where, record) of a JSON Lines file, one object a line; or of a `.json` file that
        holds one array of objects, as JSON exporters write it."""
        if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
            try:
                records = json.loads(text)
            except json.JSONDecodeError as err:
                raise TextError(
                    f"{path}, line {err.lineno}: not JSON ({err.msg}); a .json file holds one "
                    "array of objects, or one object a line"
                ) from None
            return [(f"record {i}", r) for i, r in enumerate(records, 1)]
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                found.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise TextError(
                    f"{path}, line {number}: not JSON ({err.msg}); a JSON Lines file holds "
                    "one object a line"
                ) from None
        return found

    def _csv_values(self, path: Path, text: str, delimiter: str) -> list[tuple[str, str]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            header = next(reader, [])
            rows = list(reader)
        except csv.Error as err:
            raise TextError(f"{path}: not CSV ({err}); check its quotes") from None
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise TextError(
                f"{path}: the header names column {repeated[0]!r} more than once; rename "
                "each column so its name is its own"
            )
        self._check_field(path, header, delimiter)
        column = header.index(self.field)
        return [
            (f"record {number}", row[column])
            for number, row in enumerate(rows, 1)
            if column < len(row) and row[column] != ""
        ]

    def _check_field(self, path: Path, columns: list[str], delimiter: str | None = None) -> None:
        if self.field in columns:
            return
        hint = ""
        if delimiter is not None and len(columns) == 1:
            others = [d for d in DELIMITERS if d != delimiter and d in columns[0]]
            if others:
                hint = f"; if its columns are separated by {others[0]!r}, give 'data.delimiter=\"{others[0]}\"'"
        raise TextError(
            f"data.field={self.field!r}: {path} has no such field; its fields are "
            f"{columns} (give data.field=ONE_OF_THEM){hint}"
        )

    @staticmethod
    def _sniff(text: str, default: str) -> str:
        """The separator of a CSV file's columns: the one of DELIMITERS that splits its first
        lines alike, else `default` (a file of one column splits on nothing)."""
        sample = "\n".join(text.splitlines()[:20])
        try:
            return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
        except csv.Error:
            return default


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "list"}.get(type(value), type(value).__name__)
