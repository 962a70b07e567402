"""`charlm-report SWEEP_DIR`: a sweep's runs as one table (`charlm.report`)."""

from __future__ import annotations

from pathlib import Path

from charlm.errors import OneLineParser
from charlm.report import collect, format_rows, write_report


def main(argv: list[str] | None = None) -> None:
    """Console script `charlm-report SWEEP_DIR`."""
    parser = OneLineParser(
        prog="charlm-report",
        description="Print the runs of a multirun ranked by validation loss.",
    )
    parser.add_argument(
        "sweep_dir", type=Path, help="a multirun directory, e.g. logs/train/multiruns/<date>"
    )
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="PATH",
        help="also write the table as CSV there (the sweep's own report.csv is left as it is)",
    )
    args = parser.parse_args(argv)
    sweep_dir = args.sweep_dir
    if not sweep_dir.is_dir():
        parser.error(f"{sweep_dir} is not a directory")
    if args.csv is not None and not args.csv.parent.is_dir():
        parser.error(f"--csv {args.csv}: the directory {args.csv.parent} does not exist")
    rows = collect(sweep_dir)
    if not rows:
        parser.error(f"no runs (*/.hydra/overrides.yaml) under {sweep_dir}")
    print(format_rows(rows))
    if args.csv is not None:
        _, path = write_report(sweep_dir, args.csv)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
