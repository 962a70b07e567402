"""`charlm-export format=web`: a page that samples and scores in a browser with no Python. It is
opened from a file in headless Chromium with the network cut off: it loads, its logits for a
fixed input equal Python's to 1e-4, its words use only the model's alphabet, moving the
temperature changes them, and each typed character gets its surprisal."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS

from charlm import load_model
from charlm.export import ExportError
from charlm.export_web import find_runtime

# Trains a run, exports it and drives a browser: in `make test`, not the edit-test loop.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Le chat dort. La pluie tombe sur la ville, et le vent souffle fort.\n" * 20
# How this project's machines start Chromium headless (no sandbox as root, no background
# connections: the network is closed).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium here: apt-get install chromium (CI installs it)")
    return path


@pytest.fixture(scope="module", params=["words", "text"])
def page(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"web-{request.param}")
    if request.param == "words":
        data = root / "words.txt"
        data.write_text("\n".join(TINY_WORDS) + "\n")
        args = ("model=gru", "model.net.hidden_size=16", "data.split=[0.6,0.2,0.2]")
    else:
        data = root / "story.txt"
        data.write_text(TEXT)
        args = ("data=text", "data.block_size=16", "model=transformer",
                "model.net.emb_size=16", "model.net.num_layers=1")  # fmt: skip
    done = run_command("charlm-train", f"data.path={data}", *args, "trainer.max_steps=30",
                       "model/scheduler=none", "logger=none", "hydra.run.dir=run", cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    done = run_command("charlm-export", f"ckpt={ckpt}", "format=web", "output=page", cwd=root)
    assert done.returncode == 0 and "index.html" in done.stdout, done.stderr
    return {"kind": request.param, "folder": root / "page", "model": load_model(ckpt)}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        yield browser
        browser.close()


def opened(browser, folder: Path):
    """The page opened from its file, offline: any request to a network address fails."""
    context = browser.new_context(offline=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    tab.goto((folder / "index.html").as_uri())
    tab.wait_for_function("window.charlm !== undefined", timeout=30_000)
    tab.evaluate("window.charlm.ready")
    assert errors == []
    return context, tab


def test_the_folder_holds_the_page_the_runtime_and_the_model(page):
    names = {p.name for p in page["folder"].iterdir()}
    assert {"index.html", "model.js", "ort.wasm.min.js", "ort-runtime.js", "model.onnx",
            "README.md", "config.json"} <= names  # fmt: skip


def test_the_page_loads_offline_and_its_logits_are_pythons(page, browser):
    context, tab = opened(browser, page["folder"])
    try:
        model = page["model"]
        ids = [[0, 1, 2, 3, 4, 5], [0, 6, 5, 4, 3, 2]]
        got = torch.tensor(tab.evaluate(f"window.charlm.logits({json.dumps(ids)})"))
        with torch.no_grad():
            expected = model.block_logits(torch.tensor(ids))
        assert got.shape == expected.shape
        assert (got - expected).abs().max() < 1e-4
        assert tab.inner_text("#status") == ""  # loaded, no error shown
    finally:
        context.close()


def test_the_page_samples_from_the_alphabet_and_the_temperature_changes_the_samples(page, browser):
    context, tab = opened(browser, page["folder"])
    try:
        alphabet = set(page["model"].vocab.itos)
        options = {"n": 8, "seed": 4, "top_k": 0, "top_p": 1, "prefix": "", "length": 40,
                   "max_len": 20}  # fmt: skip
        if page["kind"] == "text":
            options["prefix"] = "Le "
        draw = "o => window.charlm.sample(o)"
        cold = tab.evaluate(draw, {**options, "temperature": 0.3})
        hot = tab.evaluate(draw, {**options, "temperature": 1.8})
        again = tab.evaluate(draw, {**options, "temperature": 1.8})
        assert len(cold) == 8 and all(set(s) <= alphabet for s in cold + hot)
        assert hot == again  # a seed draws the same samples
        assert cold != hot
        # Through the page's own controls: the slider moves, the button draws.
        tab.fill("#seed", "4")
        tab.eval_on_selector(
            "#temperature", "e => { e.value = 0.3; e.dispatchEvent(new Event('input')); }"
        )
        tab.click("#draw")
        tab.evaluate("window.charlm.drawing")  # the click's draw, finished
        shown_cold = tab.inner_text("#samples")
        tab.eval_on_selector(
            "#temperature", "e => { e.value = 1.8; e.dispatchEvent(new Event('input')); }"
        )
        tab.click("#draw")
        tab.evaluate("window.charlm.drawing")
        assert tab.inner_text("#temperature_value") == "1.8"
        assert tab.inner_text("#samples") != shown_cold
    finally:
        context.close()


def test_each_typed_character_gets_its_surprisal_and_the_word_its_nll(page, browser):
    context, tab = opened(browser, page["folder"])
    try:
        model = page["model"]
        typed = "emma" if page["kind"] == "words" else "Le chat dort."
        scored = tab.evaluate("t => window.charlm.score(t)", typed)
        if page["kind"] == "words":
            expected = model.log_prob(typed)[1]
            assert len(scored["bits"]) == len(typed) + 1  # each character and the end
        else:
            ids = torch.tensor(model.vocab.encode(typed))
            expected = float(model.char_nll(ids, block_size=model.context_size).mean())
            assert len(scored["bits"]) == len(typed) - 1
        assert abs(scored["nll"] - expected) < 1e-4
        tab.fill("#typed", typed)
        tab.wait_for_selector("#scored .ch")
        marks = tab.eval_on_selector_all(
            "#scored .ch", "s => s.map(e => e.style.borderBottomColor)"
        )
        assert len(marks) == len(scored["bits"]) and all(marks)
        assert "NLL" in tab.inner_text("#scored")
    finally:
        context.close()


def test_a_page_without_onnxruntime_web_or_of_bpe_tokens_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(ExportError, match="no onnxruntime-web there"):
        find_runtime(tmp_path)
    dist = find_runtime(ROOT / "web" / "node_modules")  # make web installed it
    assert (dist / "ort.wasm.min.js").is_file()
    monkeypatch.setenv("CHARLM_ORT_WEB", str(tmp_path))
    with pytest.raises(ExportError, match=f"ort_web={tmp_path}"):
        find_runtime()
    from charlm.export_web import export_web

    with pytest.raises(ExportError, match="the page cannot split"):
        export_web({"charlm": {"vocab_kind": "tokens"}}, tmp_path / "x.ckpt", tmp_path / "out")
    assert not (tmp_path / "out").exists()
