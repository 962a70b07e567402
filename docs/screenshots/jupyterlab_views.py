"""Open lesson 6 in JupyterLab in a headless browser, run it, and photograph its interactive
views (`make screenshot`): the sampler, the attention and the hidden units, as a student sees
them. It also moves the sampler's temperature slider in the page and checks that the samples
are redrawn, through the kernel, as they are in a person's browser.

Needs Chromium (`apt-get install chromium`, or CHROMIUM=path) and Playwright's Python package
(`pip install playwright`; its own browser download is not used). The lesson runs with
CHARLM_QUICK=1 (small models, a minute), in a temporary folder with a copy of data/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "notebooks" / "06_sequence_models.py"
# The three views, each found by the label of one of its widgets.
VIEWS = {"sampler": "température", "attention": "couche", "hidden_units": "unités"}
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


# The notebook's kernel connected and idle: run-all before that runs nothing.
KERNEL_READY = """() => {
    const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
    return kernel?.connectionStatus === "connected" && kernel?.status === "idle";
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"JupyterLab did not answer at {url} within {seconds:.0f} s")


def output_of(page, label: str):
    """The output of the code cell that shows a widget labelled `label`."""
    return page.locator(".jp-Cell-outputWrapper", has=page.get_by_text(label, exact=True)).last


def settle(image, seconds: float = 2.0, limit: float = 60.0) -> None:
    """Wait until `image` has shown the same picture for `seconds`: a dragged slider sends
    several values, and the kernel redraws for each."""
    shown, since, end = None, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end:
        now = image.get_attribute("src")
        if now != shown:
            shown, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the lesson to run")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium found: apt-get install chromium, or set CHROMIUM=path")
    work = Path(tempfile.mkdtemp(prefix="charlm-views-"))
    (work / "data").mkdir()
    shutil.copy(ROOT / "data" / "civil_mots.txt", work / "data")
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [bin_dir / "jupytext", "--quiet", "--to", "ipynb", "--set-kernel", "python3",
         "--output", work / "06_sequence_models.ipynb", LESSON],
        check=True,
    )  # fmt: skip
    # Every cell drawn (JupyterLab draws only the cells in view by default), and no news prompt.
    settings = work / ".lab-settings"
    for plugin, values in SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    env = {
        **os.environ, "CHARLM_QUICK": "1", "CHARLM_ROOT": str(work),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
    }  # fmt: skip
    lab = subprocess.Popen(
        [bin_dir / "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={work}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/api", 60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/06_sequence_models.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            page.wait_for_function(KERNEL_READY, timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            ms = int(args.timeout * 1000)
            sampler = output_of(page, VIEWS["sampler"])
            sampler.locator(".widget-hslider").first.wait_for(timeout=ms)
            sampler.locator("img").first.wait_for(timeout=ms)
            for label in (VIEWS["attention"], VIEWS["hidden_units"]):
                output_of(page, label).locator("img").first.wait_for(timeout=ms)
            # Move the temperature slider from the page: the kernel redraws the samples.
            samples = sampler.locator("pre").first
            before = samples.inner_text()
            handle = sampler.locator(".widget-hslider .noUi-handle").first
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x - 25, y, steps=5)  # towards the cold end
            page.mouse.up()
            page.wait_for_function(
                "([el, text]) => el.innerText !== text",
                arg=[samples.element_handle(), before],
                timeout=60_000,
            )
            settle(sampler.locator("img").first)
            after = samples.inner_text()
            cold = sampler.locator(".widget-hslider .widget-readout").first.inner_text()
            args.out.mkdir(parents=True, exist_ok=True)
            for name, label in VIEWS.items():
                area = output_of(page, label)
                area.scroll_into_view_if_needed()
                area.screenshot(path=str(args.out / f"{name}.png"))
            browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print("samples at T = 1.0:", before.splitlines()[:3])
    print(f"samples at T = {cold}:", after.splitlines()[:3])
    print("written:", ", ".join(str(args.out / f"{n}.png") for n in VIEWS))


if __name__ == "__main__":
    main()
