"""`charlm-clean FILE`: what a text's cleaning rules remove, before training on its lines.

A dry run by default: it applies the rules (the course's, `--rules course`, or a YAML file of
rules) to the first `--lines` lines of the file and prints what each rule removed there, then
those lines as the training will read them. `--output PATH` writes the whole cleaned text.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from charlm.config import config_dir
from charlm.data.clean import CleanRule, clean_report, clean_rules, clean_text, text_lines
from charlm.errors import CharlmError, OneLineParser, check_output


def load_rules(spec: str) -> list[CleanRule]:
    """Rules by name (a file of conf/data/clean/) or from a YAML file of rules."""
    named = config_dir() / "data" / "clean" / f"{spec}.yaml"
    path = named if named.is_file() else Path(spec)
    if not path.is_file():
        known = sorted(p.stem for p in (config_dir() / "data" / "clean").glob("*.yaml"))
        raise CharlmError(f"--rules {spec}: neither a rule set ({', '.join(known)}) nor a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CharlmError(
            f"--rules {path}: not a readable YAML file ({type(err).__name__})"
        ) from None
    return clean_rules(data)


def dry_run(text: str, rules: list[CleanRule], first: int) -> str:
    """The report of the rules on the first `first` lines of `text`."""
    head = "".join(text.splitlines(keepends=True)[:first])
    cleaned, report = clean_report(head, rules)
    out = [f"the first {first} lines: what each rule removes"]
    for name, matched in report:
        shown = ", ".join(repr(m) for m in matched[:5]) + (" ..." if len(matched) > 5 else "")
        out.append(f"  {name:<18} {len(matched):>4} match(es)  {shown}")
    kept = text_lines(cleaned)
    out.append(f"the lines the training reads from them ({len(kept)}):")
    out += [f"  {line}" for line in kept]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Console script `charlm-clean`."""
    parser = OneLineParser(prog="charlm-clean", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a UTF-8 text")
    parser.add_argument("--rules", default="course", help="a rule set by name, or a YAML file")
    parser.add_argument("--lines", type=int, default=40, help="lines the dry run shows")
    parser.add_argument("--output", help="write the whole cleaned text here (no dry run)")
    args = parser.parse_args(argv)
    try:
        from charlm.data.encoded import TextError, decoded_chunks

        path = Path(args.path)
        if not path.is_file():
            raise TextError(f"{path}: no such file")
        if args.lines < 1:
            raise CharlmError(f"--lines {args.lines}: must be at least 1")
        rules = load_rules(args.rules)
        text = "".join(decoded_chunks(path))
        if args.output:
            out = Path(args.output)
            check_output(out, [path])
            cleaned = clean_text(text, rules)
            out.write_text(cleaned, encoding="utf-8")
            print(f"{out}: {len(text_lines(cleaned))} lines kept of {len(text_lines(text))}")
        else:
            print(dry_run(text, rules, args.lines))
    except CharlmError as err:
        print(f"charlm-clean: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
