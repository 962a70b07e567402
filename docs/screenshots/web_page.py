"""Photograph the page of `charlm-export format=web` as a person sees it (`make screenshot-web`):
exports the checkpoint's page into a temporary folder, opens `index.html` from the file in
headless Chromium with the network cut off, draws words at the chosen temperature, types a few
words for their surprisal, and writes docs/screenshots/web_page.png.

Needs Chromium (`apt-get install chromium`, or CHROMIUM=path) and Playwright's Python package
(installed with charlm's dev tools; its own browser download is not used).

    .venv/bin/python docs/screenshots/web_page.py CKPT [--words "..."] [--temperature 0.8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt")
    parser.add_argument("--words", default="mariage\nprocédure\nzyxwv")
    parser.add_argument("--temperature", default="0.8")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "web_page.png"))
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium found: apt-get install chromium, or set CHROMIUM=path")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page"
        subprocess.run([str(Path(sys.executable).parent / "charlm-export"), f"ckpt={args.ckpt}",
                        "format=web", f"output={page}"], check=True)  # fmt: skip
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
            context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
            tab = context.new_page()
            tab.goto((page / "index.html").as_uri())
            tab.wait_for_function("window.charlm !== undefined", timeout=30_000)
            tab.evaluate("window.charlm.ready")
            tab.eval_on_selector(
                "#temperature",
                f"e => {{ e.value = {args.temperature}; e.dispatchEvent(new Event('input')); }}",
            )
            tab.fill("#n", "8")
            tab.click("#draw")
            tab.fill("#typed", args.words)
            tab.wait_for_selector("#scored .ch")
            tab.wait_for_timeout(500)
            tab.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
