"""`charlm-data --dest data/civil_mots.txt --shared ../shared/data`: the data files charlm
knows, put in place and checked against their SHA-256 (`charlm.data.fetch`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from charlm.data.corpus import CorpusError
from charlm.data.fetch import CORPUS_NAME, KNOWN_FILES, ensure_corpus


def main(argv: list[str] | None = None) -> None:
    """`make data`: print where each file came from, or one line saying how to get it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest",
        action="append",
        help=f"where to put a known file ({', '.join(KNOWN_FILES)}), named by its file name; "
        f"repeatable (default: data/{CORPUS_NAME})",
    )
    parser.add_argument("--shared", default="../shared/data", help="a folder holding copies")
    parser.add_argument(
        "--url", default=os.environ.get("CHARLM_CORPUS_URL"), help="download from here instead"
    )
    args = parser.parse_args(argv)
    for dest in args.dest or [f"data/{CORPUS_NAME}"]:
        name = Path(dest).name
        try:
            origin = ensure_corpus(dest, args.shared, args.url, name=name)
        except CorpusError as err:
            print(f"charlm-data: error: {err}", file=sys.stderr)
            sys.exit(2)
        print(f"{dest}: SHA-256 OK ({origin})")


if __name__ == "__main__":
    main()
