"""Records files as spreadsheets and JSON exporters write them: a byte-order mark, `;` or tab
separators, quoted line breaks, repeated header names and JSON values that are not text. Each
is read as the same records as a plain CSV file, or refused in one line that names the fix."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_WORDS

from charlm.data.encoded import TextError
from charlm.data.records import TextRecords


def _csv(rows: list[tuple[str, str]], sep: str = ",", newline: str = "\n") -> str:
    return newline.join(sep.join(row) for row in rows) + newline


HEADER = ("id", "name")
ROWS = [HEADER, *((str(i), w) for i, w in enumerate(TINY_WORDS))]


@pytest.mark.parametrize(
    ("what", "content", "encoding", "delimiter"),
    [
        ("plain CSV", _csv(ROWS), "utf-8", None),
        ("Excel's CSV UTF-8 (a BOM, CRLF)", _csv(ROWS, newline="\r\n"), "utf-8-sig", None),
        ("a French spreadsheet's ;", _csv(ROWS, ";"), "utf-8", None),
        ("tabs in a .csv", _csv(ROWS, "\t"), "utf-8", None),
        ("| given", _csv(ROWS, "|"), "utf-8", "|"),
        ("; with a BOM, given", _csv(ROWS, ";"), "utf-8-sig", ";"),
    ],
)  # fmt: skip
def test_spreadsheet_csv_files_read_as_the_same_records(tmp_path, what, content, encoding,
                                                        delimiter):  # fmt: skip
    path = tmp_path / "names.csv"
    path.write_bytes(content.encode(encoding))
    assert TextRecords(path, field="name", delimiter=delimiter).read_lines() == TINY_WORDS, what


def test_a_json_lines_file_with_a_bom_reads_as_its_records(tmp_path):
    path = tmp_path / "names.jsonl"
    lines = "".join(json.dumps({"name": w}) + "\n" for w in TINY_WORDS)
    path.write_bytes(lines.encode("utf-8-sig"))
    assert TextRecords(path, field="name").read_lines() == TINY_WORDS


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("name,name\nemma,x\nava,y\n", ".csv", r"the header names column 'name' more than once"),
        ('id,name\n1,"em\nma"\n2,ava\n', ".csv",
         r"record 1: the 'name' field holds a line break.*'data\.clean\.rules=\[\{pattern: \"\\n\""),
        ('{"name": {"first": "emma"}}\n', ".jsonl", r"line 1: the 'name' field holds a JSON object, not text"),
        ('{"name": "ava"}\n{"name": ["emma"]}\n', ".jsonl", r"line 2: .* holds a JSON list"),
        ('{"name": 3}\n', ".jsonl", r"holds a JSON number"),
        ('{"name": true}\n', ".jsonl", r"holds a JSON boolean"),
    ],
)  # fmt: skip
def test_records_that_are_not_one_text_each_are_refused_with_the_fix(tmp_path, content, suffix,
                                                                     message):  # fmt: skip
    path = tmp_path / f"names{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextError, match=message) as err:
        TextRecords(path, field="name").read_lines()
    assert "\n" not in str(err.value).replace('"\\n"', "")  # one line


def test_a_separator_forced_wrong_is_told_the_right_one(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text(_csv(ROWS, ";"), encoding="utf-8")
    with pytest.raises(TextError, match=r"separated by ';', give 'data.delimiter=\";\"'"):
        TextRecords(path, field="name", delimiter=",").read_lines()


@pytest.mark.parametrize("delimiter", [";;", "", 3])
def test_a_delimiter_that_is_not_one_character_is_refused(tmp_path, delimiter):
    with pytest.raises(TextError, match=r"data.delimiter=.*one character"):
        TextRecords(tmp_path / "names.csv", field="name", delimiter=delimiter)


def test_the_fix_a_line_break_is_told_trains(tmp_path):
    from commands import run_command

    path = tmp_path / "names.csv"
    path.write_text('id,name\n0,"em\nma"\n' + _csv(ROWS[2:]), encoding="utf-8")
    result = run_command(
        "charlm-train", "data=records", f"data.path={path}", "data.field=name",
        "data.split=[0.6,0.2,0.2]", "model.net.hidden_size=8", "trainer.max_steps=5",
        "logger=none", "model/scheduler=none", "hydra.run.dir=run",
        'data.clean.rules=[{pattern: "\\n", replace: " "}]', cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_json_file_holding_one_array_of_objects_reads_as_its_records(tmp_path):
    path = tmp_path / "names.json"
    path.write_text(json.dumps([{"name": w, "n": i} for i, w in enumerate(TINY_WORDS)], indent=2))
    assert TextRecords(path, field="name").read_lines() == TINY_WORDS
    path.write_text(json.dumps([{"name": "emma"}, ["ava"]]))
    with pytest.raises(TextError, match=r"names.json, record 2: a JSON object was expected"):
        TextRecords(path, field="name").read_lines()
