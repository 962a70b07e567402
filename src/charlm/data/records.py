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
from charlm.data.lines import TextLines
from charlm.data.text import TextError, decoded_chunks
from charlm.data.vocab import Vocab

FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}


class TextRecords(TextLines):
    """The `field` of each record of CSV files (a header row naming the columns; `.tsv`
    with tabs) or JSON Lines files (`.jsonl`: one object a line), cleaned and stripped.

    A record whose field is empty or missing is left out; a field no record has is refused,
    naming the columns there are.
    """

    kind = "records"
    what = "file of records"
    described = "records of a file"
    config_keys = (*TextLines.config_keys, "field")

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: Vocab | None = None,
        field: str = "text",
        **options: Any,
    ) -> None:
        """`options` are `TextLines`' (split, split_seed, units, tokenizer, clean); the units
        are characters unless they say tokens."""
        super().__init__(path, vocab, **{"units": "chars", **options})
        self.field = str(field)

    def read_lines(self) -> list[str]:
        """The non-empty values of `field`, cleaned, in file order."""
        values = [v for p in self.paths for v in self._values(p)]
        cleaned = [clean_text(v, self.rules).strip() for v in values]
        lines = [v for v in cleaned if v]
        if not lines:
            raise TextError(f"{self.path}: no record has a non-empty {self.field!r} field")
        return lines

    def _values(self, path: Path) -> list[str]:
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise TextError(
                f"{path}: records are read from {', '.join(FORMATS)} files; rename it or convert it"
            )
        text = "".join(decoded_chunks(path))
        if FORMATS[suffix] is None:
            records = []
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise TextError(
                        f"{path}, line {number}: not JSON ({err.msg}); a JSON Lines file holds "
                        "one object a line"
                    ) from None
                if not isinstance(record, dict):
                    raise TextError(f"{path}, line {number}: a JSON object was expected")
                records.append(record)
            columns = sorted({k for r in records for k in r})
        else:
            reader = csv.DictReader(io.StringIO(text), delimiter=FORMATS[suffix])
            records = list(reader)
            columns = list(reader.fieldnames or [])
        if self.field not in columns:
            raise TextError(
                f"data.field={self.field!r}: {path} has no such field; its fields are "
                f"{columns} (give data.field=ONE_OF_THEM)"
            )
        return [str(r[self.field]) for r in records if r.get(self.field) not in (None, "")]
