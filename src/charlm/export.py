"""A trained model taken out of charlm as plain files: its weights in safetensors (no pickle),
its config and vocabulary as JSON, and a model card in French and English.

    exported/
      model.safetensors   the network's weights, by parameter name
      config.json         what `charlm.load_model(folder)` rebuilds the model from: the run's
                          config, the vocabulary, the data's identity, the update it was saved at
      vocab.json          the symbols in id order (tokenizer.json: a BPE model's tokenizer)
      README.md           the model card: data, split, figures and their reading, use, limits

`charlm.load_model("exported/")` reads the folder without unpickling anything, and gives the
checkpoint's own figures: the same weights go into the same network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from charlm.errors import CharlmError

FORMAT = "charlm-export/1"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class ExportError(CharlmError):
    """A model cannot be exported where or as asked, or an exported folder cannot be read."""


def is_export(path: str | Path) -> bool:
    """Whether `path` is a folder `export_safetensors` wrote."""
    path = Path(path)
    return path.is_dir() and (path / WEIGHTS).is_file()


def read_export(folder: str | Path) -> dict[str, Any]:
    """An exported folder as the checkpoint it came from reads (`state_dict` under `net.`,
    the `charlm` metadata, `global_step`): safetensors and JSON, no pickle."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{folder} holds {WEIGHTS} but no {CONFIG}: export it again") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"{folder / CONFIG} is not readable JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ExportError(
            f"{folder / CONFIG} is not a charlm export of format {FORMAT} "
            f"(it says {config.get('format') if isinstance(config, dict) else config!r})"
        )
    try:
        weights = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise ExportError(
            f"{folder / WEIGHTS} is not a readable safetensors file ({err})"
        ) from None
    return {
        "state_dict": {f"net.{k}": v for k, v in weights.items()},
        "charlm": config.get("charlm") or {},
        "global_step": int(config.get("global_step") or 0),
    }


def export_safetensors(checkpoint: dict[str, Any], source: str | Path, out: str | Path) -> Path:
    """Write the folder of the language model in `checkpoint` (read from `source`) to `out`,
    a folder that does not exist or is empty; returns it."""
    from safetensors.torch import save_file

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(
            f"output={out} exists and is not an empty folder: give a new folder, so that "
            "nothing already there is replaced"
        )
    meta = checkpoint.get("charlm") or {}
    if not isinstance(meta.get("vocab"), str) or not meta["vocab"]:
        raise ExportError(
            f"{source} is not a character language model's checkpoint (no vocabulary stored): "
            "charlm-export takes the checkpoints of charlm-train's language models"
        )
    # Each tensor copied whole: safetensors stores no tensors sharing memory (tied weights).
    weights = {
        key[4:]: value.detach().to("cpu").clone().contiguous()
        for key, value in checkpoint["state_dict"].items()
        if str(key).startswith("net.")
    }
    run_dir = Path(source).resolve().parent.parent
    metrics = _json(run_dir / "metrics.json")
    config = {
        "format": FORMAT,
        "charlm": {k: meta[k] for k in ("vocab", "vocab_kind", "config", "data") if k in meta},
        "global_step": int(checkpoint.get("global_step") or 0),
        "checkpoint": str(source),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / WEIGHTS), metadata={"format": "pt", "charlm": FORMAT})
    (out / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    _write_vocabulary(out, meta["vocab"], meta.get("vocab_kind"))
    (out / "README.md").write_text(
        model_card(meta, metrics, _command(run_dir), config["global_step"]), encoding="utf-8"
    )
    return out


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _command(run_dir: Path) -> str:
    """The command that trained the run, from its .hydra/overrides.yaml when it is there."""
    try:
        overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    except (OSError, yaml.YAMLError):
        return "charlm-train (its overrides were not found beside the checkpoint)"
    return " ".join(["charlm-train", *(str(o) for o in overrides)])


def _write_vocabulary(out: Path, vocab: str, kind: str | None) -> None:
    from charlm.data.vocab import stored_vocabulary

    if kind == "tokens":
        # Hugging Face's own tokenizer.json (tokenizers.Tokenizer.from_file reads it); the end
        # and unknown tokens' names are in config.json's vocabulary.
        tokenizer = json.loads(vocab)["tokenizer"]
        (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), "utf-8")
        return
    itos = stored_vocabulary(vocab, kind).itos
    (out / "vocab.json").write_text(
        json.dumps({"itos": itos}, ensure_ascii=False), encoding="utf-8"
    )


def model_card(meta: dict[str, Any], metrics: dict[str, Any], command: str, step: int) -> str:
    """The README of an exported model, in French then English: its data and split, its
    figures and how they were read, what it is for and what it cannot do, how it was made."""
    from charlm.data.vocab import stored_vocabulary

    config = yaml.safe_load(meta.get("config") or "{}") or {}
    data = config.get("data") or {}
    identity = meta.get("data") or {}
    net = ((config.get("model") or {}).get("net") or {}).get("_target_", "?").rsplit(".", 1)[-1]
    vocab = stored_vocabulary(meta["vocab"], meta.get("vocab_kind"))
    source = Path(str(data.get("path") or "?")).name
    kind = identity.get("kind") or "words"
    split = data.get("split") or [0.8, 0.1, 0.1]
    rows = [
        f"| {name} | {_figure(metrics.get(name, {}).get('loss'))} | "
        f"{_figure(metrics.get(name, {}).get('bpc'))} |"
        for name in ("train", "val", "test")
        if isinstance(metrics.get(name), dict)
    ]
    reading = metrics.get("evaluation") or "sequences"
    precision = metrics.get("precision") or "32-true"
    table = "\n".join(["| split | NLL (nats) | bits |", "| --- | --- | --- |", *rows])
    if not rows:
        table = "(no metrics.json beside the checkpoint: `charlm-eval ckpt=FOLDER` reads them)"
    symbols = len(vocab)
    return f"""# {net} — {source}

## Français

Modèle de langue au niveau des caractères entraîné par charlm ({net}, mise à jour {step}).

- **Données** : `{source}` ({kind}), SHA-256 `{str(identity.get("words_sha256") or identity.get("text_sha256") or "?")[:16]}…`, {symbols} symboles.
- **Découpage** : {split} (train, val, test), graine `{data.get("split_seed", "—")}`.
- **Chiffres** : NLL par caractère (fin de mot comprise), lue en `{reading}`, arithmétique `{precision}` :

{table}

- **Usage prévu** : générer et noter des mots ou des passages qui ressemblent aux données
  (listes de noms, pseudo-mots, démonstrations), étudier un modèle de langue.
- **Limites** : il ne connaît que les {symbols} symboles de ses données et leurs
  régularités (par exemple, un modèle des mots du Code civil ne connaît ni les noms propres ni
  les mots d'autres langues) ; un caractère jamais vu est refusé. Ses mots « nouveaux » peuvent exister
  ailleurs ; il ne sait rien de leur sens.
- **Commande** : `{command}`

## English

A character-level language model trained by charlm ({net}, update {step}).

- **Data**: `{source}` ({kind}), {symbols} symbols.
- **Split**: {split} (train, val, test), seed `{data.get("split_seed", "—")}`.
- **Figures**: NLL per character (end token included), read as `{reading}`, in `{precision}`
  arithmetic: the table above.
- **Intended use**: drawing and scoring words or passages like its data (name lists,
  pseudo-words, classroom demos), studying a language model.
- **Limits**: it knows only the {symbols} symbols of its data and their patterns (for example,
  a model of the Code civil's words knows no proper names and no other language's words); it
  refuses a character it never saw. Its "new" words may exist elsewhere; it knows nothing of meaning.
- **Command**: `{command}`

Load it with `charlm.load_model("<this folder>")` (safetensors, no pickle).
"""


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and math.isfinite(value) else "—"
