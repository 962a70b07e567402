"""A trained model as a web page that samples and scores with no Python and no server: the
ONNX folder (`charlm.export_onnx`) plus

    index.html        the page: sampling (temperature, top-k, top-p, prefix or prompt, seed)
                      and each typed character's surprisal, as a colour under it
    model.js          the forward graph and the vocabulary
    ort.wasm.min.js   ONNX Runtime Web, from npm's onnxruntime-web
    ort-runtime.js    its WebAssembly and loader

Everything the page loads is a classic <script>, and ONNX Runtime's WebAssembly is handed to
it from memory: a page opened from a file may not fetch files, so it works from a file as
from any static server, offline. The page reads a block of at most `context_size` characters
at a time (a passage longer than that is cropped to its last ones, as nanoGPT's sampler does).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

from charlm.export import CONFIG, ExportError

# The onnxruntime-web release the page is built and tested with (web/package.json).
ORT_WEB = "onnxruntime-web@1.30.0"
RUNTIME = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")


def export_web(
    checkpoint: dict[str, Any],
    source: str | Path,
    out: str | Path,
    quantize: str | None = None,
    ort_web: str | Path | None = None,
) -> Path:
    """Write the page of `checkpoint`'s model to `out` (a new or empty folder); the page runs
    the int8 graph where `quantize="int8"`. Returns the folder."""
    from charlm.export_onnx import export_onnx, removed_on_failure

    meta = checkpoint.get("charlm") or {}
    if meta.get("vocab_kind") == "tokens":
        raise ExportError(
            "format=web reads characters: this model's vocabulary is BPE tokens, which the page "
            "cannot split; export it with format=onnx and tokenize with its tokenizer.json"
        )
    dist = find_runtime(ort_web)  # before anything is written
    existed = Path(out).is_dir()
    folder = export_onnx(checkpoint, source, out, quantize)
    with removed_on_failure(folder, existed):
        return _write_page(folder, meta, dist, quantize)


def _write_page(folder: Path, meta: dict[str, Any], dist: Path, quantize: str | None) -> Path:
    """index.html, model.js and ONNX Runtime Web's files in the exported `folder`."""
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    graphs = config["onnx"]
    graph = (graphs.get("int8") or {}).get("forward") if quantize else graphs["forward"]
    itos = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))["itos"]
    mode = "text" if meta.get("vocab_kind") == "text" else "words"
    title = f"{_net_name(config)} — {Path(_data_path(config)).name}"
    model = {
        "onnx": base64.b64encode((folder / graph).read_bytes()).decode("ascii"),
        "itos": itos,
        "mode": mode,
        "contract": graphs["contract"],
        "context_size": graphs["context_size"],
        "max_word_length": graphs["max_word_length"],
        "title": title,
        "about": (
            f"{len(itos)} symboles / symbols, {graph}, "
            f"{'mots' if mode == 'words' else 'texte'} / {mode}; README.md: la fiche du modèle "
            "/ the model card"
        ),
    }
    (folder / "model.js").write_text(
        "window.CHARLM = " + json.dumps(model, ensure_ascii=False) + ";\n", encoding="utf-8"
    )
    shutil.copyfile(dist / "ort.wasm.min.js", folder / "ort.wasm.min.js")
    glue = (dist / "ort-wasm-simd-threaded.mjs").read_text(encoding="utf-8")
    wasm = base64.b64encode((dist / "ort-wasm-simd-threaded.wasm").read_bytes()).decode("ascii")
    (folder / "ort-runtime.js").write_text(
        f"window.ORT_GLUE = {json.dumps(glue)};\nwindow.ORT_WASM = {json.dumps(wasm)};\n",
        encoding="utf-8",
    )
    page = files("charlm.web").joinpath("index.html").read_text(encoding="utf-8")
    (folder / "index.html").write_text(page.replace("__TITLE__", _escape(title)), "utf-8")
    return folder


def _run(config: dict[str, Any]) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(config["charlm"].get("config") or "{}") or {}


def _net_name(config: dict[str, Any]) -> str:
    target = ((_run(config).get("model") or {}).get("net") or {}).get("_target_", "charlm")
    return str(target).rsplit(".", 1)[-1]


def _data_path(config: dict[str, Any]) -> str:
    return str((_run(config).get("data") or {}).get("path") or "model")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def find_runtime(given: str | Path | None = None) -> Path:
    """The folder of onnxruntime-web's dist files: `given` (that folder, or a node_modules
    or package folder above it), else $CHARLM_ORT_WEB, else the checkout's web/node_modules
    (`make web`), else a copy installed by npm into charlm's cache."""
    for candidate in (given, os.environ.get("CHARLM_ORT_WEB")):
        if candidate:
            found = _dist(Path(candidate))
            if found is None:
                raise ExportError(
                    f"ort_web={candidate}: no onnxruntime-web there ({RUNTIME[0]} and its "
                    f".wasm); give the dist folder of `npm install {ORT_WEB}`"
                )
            return found
    checkout = Path(__file__).resolve().parents[2] / "web" / "node_modules"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "charlm" / "web"
    for root in (checkout, cache / "node_modules"):
        found = _dist(root)
        if found is not None:
            return found
    npm = shutil.which("npm")
    if npm is None:
        raise ExportError(
            f"format=web needs {ORT_WEB} and npm is not installed: install Node.js, or give "
            "ort_web=FOLDER where `npm install` put it"
        )
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache), ORT_WEB],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    found = _dist(cache / "node_modules")
    if done.returncode != 0 or found is None:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ExportError(
            f"format=web: `npm install {ORT_WEB}` failed ({last}); install it where the "
            "network allows and give ort_web=FOLDER"
        )
    return found


def _dist(path: Path) -> Path | None:
    for folder in (path, path / "dist", path / "onnxruntime-web" / "dist"):
        if all((folder / name).is_file() for name in RUNTIME):
            return folder
    return None
