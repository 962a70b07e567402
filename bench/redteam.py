"""Red team: bad and unusual input to every command, as a new user would give it.

Trains tiny models in a scratch directory (a window MLP and a Transformer on a word list, a
GRU and a Transformer on running text, a model of BPE tokens on lines, a classifier), then runs
each case below as its own process: the commands, the Python API (`python -c`), and runs
started together or beside a run directory in use. A case passes when it succeeds (exit 0, and
its result is right where the case checks one) or stops with exit status 2 and one line naming
the problem; when nothing prints a traceback; and when the checkpoints, metrics.json, .hydra/
files, data files and caches are byte for byte as they were (after every refused case, and
after all of them). Prints a Markdown table (docs/troubleshooting.md holds one) and exits 1 if
a case fails.

    make redteam          # or: .venv/bin/python bench/redteam.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
    "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
    "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla",
    "riley", "zoey", "nora", "lily", "eleanor", "hannah", "lillian", "addison", "aubrey",
]  # fmt: skip


TEXT = (
    "Le chat dort sur le lit. La pluie tombe sur la ville, et le chien aboie.\n"
    "Un oiseau chante au matin; les enfants jouent dans la cour de l'école.\n"
) * 20
LINES = [f"Le {a} {b} dort." for a in ("chat", "chien", "loup", "rat") for b in "abcdefghij"]


@dataclass
class Case:
    program: str  # the command, or "python" for a case of the Python API
    args: list[str]
    what: str
    stdin: str | None = None
    # What is wrong with a successful case's result, or None: the check of "a right result".
    check: Callable[[Path], str | None] | None = None
    together: int = 1  # copies started at once; "{i}" in an argument is the copy's number
    codes: tuple[int, ...] = ()  # the sorted exit codes the copies must end with
    hold: Path | None = None  # a run directory held as a run training into it holds it
    may_change: tuple[
        str, ...
    ] = ()  # watched files a successful case rewrites (a cache it repairs)


def run(cmd: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, input=stdin, env=env, timeout=600
    )


def fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` that a command must leave as it found it: the runs'
    checkpoints, metrics.json and .hydra/ files, the data files, tokenizers and caches. Logs
    (a refused command says why in the run's log), and out/, where cases write, are not."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if not path.is_file() or path.suffix == ".log" or name.startswith("out"):
            continue
        if "tfevents" not in path.name:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def changed(before: dict[str, str], after: dict[str, str], allowed: tuple[str, ...] = ()) -> list:
    """The watched files changed or removed, but those under `allowed`."""
    return sorted(k for k in before if before[k] != after.get(k) and not k.startswith(allowed))


def train(work: Path, name: str, *overrides: str, data: str | None = "words.txt") -> Path:
    run_dir = work / "runs" / name
    words = ("data.split=[0.6,0.2,0.2]",) if data == "words.txt" else ()
    given = (f"data.path={work / data}",) if data else ()
    out = run(
        [str(BIN / "charlm-train"), *given, *words,
         f"hydra.run.dir={run_dir}", "callbacks.progress_bar=null", "logger=none", "num_threads=1",
         *overrides],
        work,
    )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"setting up the {name} run failed:\n{out.stderr[-2000:]}")
    return run_dir


def api(body: str) -> list[str]:
    """`python -c` arguments running `body`: a `CharlmError` is one line and exit status 2, as
    the commands report it; anything else raised is a traceback."""
    script = (
        "import sys\nfrom charlm.errors import CharlmError\ntry:\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\nexcept CharlmError as err:\n"
        "    assert '\\n' not in str(err), 'the message spans lines: ' + repr(str(err))\n"
        "    print(f'python: error: {err}', file=sys.stderr)\n"
        "    sys.exit(2)\n"
    )
    return ["-c", script]


@contextlib.contextmanager
def held(run_dir: Path | None) -> Iterator[None]:
    """`run_dir` locked as a charlm run training into it locks it (no timing involved)."""
    if run_dir is None:
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def cases(work: Path, mlp: Path, gpt: Path) -> list[tuple[str, list[str], str, str | None]]:
    """(command, arguments, what is tried, stdin) for every case."""
    ckpt, gpt_ckpt = mlp / "checkpoints" / "last.ckpt", gpt / "checkpoints" / "last.ckpt"
    bad = work / "bad"
    train_args = [f"data.path={work / 'words.txt'}", "callbacks.progress_bar=null", "logger=none"]
    t = "charlm-train"
    return [
        (t, [f"data.path={work / 'missing.txt'}"], "a word list that does not exist", None),
        (t, [f"data.path={work}"], "a directory as word list", None),
        (t, [f"data.path={bad / 'latin1.txt'}"], "a word list that is not UTF-8", None),
        (t, [f"data.path={bad / 'empty.txt'}"], "an empty word list", None),
        (
            t,
            [f"data.path={bad / 'civil_mots.txt'}"],
            "a civil_mots.txt that fails its SHA-256",
            None,
        ),
        (
            t,
            [*train_args, "data.split=[0.5,0.5,0.5]"],
            "split fractions that do not sum to 1",
            None,
        ),
        (t, [*train_args, "model.net.emb_size=0"], "an embedding size of 0", None),
        (t, [*train_args, "model.net.hidden_size=abc"], "a size that is not a number", None),
        (t, [*train_args, "trainer.max_steps=0"], "zero updates", None),
        (t, [*train_args, "model.optimizer.lr=-1"], "a negative learning rate", None),
        (
            t,
            [*train_args, "experiment=mlp_fast", "trainer.max_steps=20"],
            "a one-cycle warm-up of one update",
            None,
        ),
        (t, [*train_args, "seed=-1"], "a negative seed", None),
        (t, [*train_args, "num_threads=0"], "zero threads", None),
        (t, [*train_args, "trainer.gradient_clip_val=-1"], "a negative clipping value", None),
        (
            t,
            [*train_args, f"ckpt_path={work / 'missing.ckpt'}"],
            "resuming a checkpoint that does not exist",
            None,
        ),
        (
            t,
            [*train_args, f"ckpt_path={bad / 'random.ckpt'}"],
            "resuming a corrupt checkpoint",
            None,
        ),
        (t, [*train_args, f"ckpt_path={gpt_ckpt}"], "resuming another model's checkpoint", None),
        (
            t,
            [*train_args, "model.net.hidden_size=7", f"ckpt_path={ckpt}"],
            "resuming with other sizes",
            None,
        ),
        (
            t,
            [*train_args, f"hydra.run.dir={mlp}"],
            "training into a run directory holding checkpoints",
            None,
        ),
        (
            "charlm-sample",
            [f"ckpt={work / 'missing.ckpt'}"],
            "a checkpoint that does not exist",
            None,
        ),
        ("charlm-sample", [f"ckpt={bad / 'random.ckpt'}"], "random bytes as checkpoint", None),
        ("charlm-sample", [f"ckpt={bad / 'text.ckpt'}"], "a text file as checkpoint", None),
        ("charlm-sample", [f"ckpt={bad / 'empty.ckpt'}"], "an empty checkpoint file", None),
        ("charlm-sample", [f"ckpt={bad / 'truncated.ckpt'}"], "a truncated checkpoint", None),
        (
            "charlm-sample",
            [f"ckpt={bad / 'list.ckpt'}"],
            "a torch file that is not a checkpoint",
            None,
        ),
        ("charlm-sample", [f"ckpt={mlp / 'checkpoints'}"], "a directory as checkpoint", None),
        ("charlm-sample", [f"ckpt={ckpt}", "n=abc"], "n that is not a number", None),
        ("charlm-sample", [f"ckpt={ckpt}", "n=0"], "n=0", None),
        ("charlm-sample", [f"ckpt={ckpt}", "n=true"], "n=true", None),
        (
            "charlm-sample",
            [f"ckpt={ckpt}", "temperature=abc"],
            "a temperature that is not a number",
            None,
        ),
        ("charlm-sample", [f"ckpt={ckpt}", "temperature=0"], "a temperature of 0", None),
        ("charlm-sample", [f"ckpt={ckpt}", "top_k=1.5"], "a fractional top_k", None),
        ("charlm-sample", [f"ckpt={ckpt}", "max_len=x"], "max_len that is not a number", None),
        ("charlm-sample", [f"ckpt={ckpt}", "seed=abc"], "a seed that is not a number", None),
        ("charlm-sample", [f"ckpt={ckpt}", "novelty=maybe"], "a boolean option set to maybe", None),
        (
            "charlm-sample",
            [f"ckpt={ckpt}", "prefix=ZQ"],
            "a prefix with characters never seen",
            None,
        ),
        (
            "charlm-sample",
            [f"ckpt={ckpt}", "prefix=emma", "max_len=4"],
            "a prefix as long as max_len",
            None,
        ),
        (
            "charlm-sample",
            [f"ckpt={gpt_ckpt}", "prefix=" + "a" * 15],
            "a prefix longer than the Transformer reads",
            None,
        ),
        (
            "charlm-sample",
            [f"ckpt={ckpt}", f"data_path={bad / 'changed.txt'}"],
            "novelty against a changed word list",
            None,
        ),
        (
            "charlm-sample",
            [f"ckpt={ckpt}", f"data_path={bad / 'changed.txt'}", "resplit=true", "n=3"],
            "the same, re-split on purpose",
            None,
        ),
        (
            "charlm-eval",
            [f"ckpt={ckpt}", f"output={work / 'no' / 'x.json'}"],
            "output in a directory that does not exist",
            None,
        ),
        (
            "charlm-eval",
            [f"ckpt={ckpt}", f"words={work / 'missing.txt'}"],
            "words= naming no file",
            None,
        ),
        ("charlm-eval", [f"ckpt={ckpt}", f"words={work}"], "words= naming a directory", None),
        ("charlm-eval", [f"ckpt={ckpt}", "unknown=maybe"], "unknown= neither skip nor error", None),
        (
            "charlm-eval",
            [f"ckpt={ckpt}", f"data_path={bad / 'changed.txt'}"],
            "evaluating on a changed word list",
            None,
        ),
        (
            "charlm-eval",
            [f"ckpt={gpt_ckpt}", f"words={bad / 'long.txt'}", f"output={work / 'eval-long.json'}"],
            "a word longer than the Transformer reads",
            None,
        ),
        (
            "charlm-score",
            [f"ckpt={gpt_ckpt}", f"words={bad / 'long.txt'}"],
            "scoring a word longer than the Transformer reads",
            None,
        ),
        ("charlm-score", [f"ckpt={ckpt}", "format=xml"], "an unknown output format", "emma\n"),
        ("charlm-score", [f"ckpt={ckpt}", "top=0"], "top=0", "emma\n"),
        ("charlm-score", [f"ckpt={ckpt}", "sort=size"], "an unknown sort key", "emma\n"),
        (
            "charlm-score",
            [f"ckpt={ckpt}", "descending=maybe"],
            "a boolean option set to maybe",
            "emma\n",
        ),
        (
            "charlm-score",
            [f"ckpt={ckpt}", f"output={work / 'no' / 'x.csv'}"],
            "output in a directory that does not exist",
            "emma\n",
        ),
        ("charlm-score", [f"ckpt={ckpt}", "words=-"], "standard input holding no words", ""),
        ("charlm-inspect", [f"ckpt={ckpt}", "batch_size=0"], "an empty batch", None),
        (
            "charlm-inspect",
            [f"ckpt={ckpt}", f"output={work / 'no' / 'x.png'}"],
            "output in a directory that does not exist",
            None,
        ),
        (
            "charlm-inspect",
            [f"ckpt={bad / 'config.ckpt'}"],
            "a checkpoint whose stored config is damaged",
            None,
        ),
        ("charlm-report", [str(work / "missing")], "a sweep directory that does not exist", None),
        ("charlm-report", [str(bad)], "a directory holding no runs", None),
        (
            "charlm-data",
            ["--dest", str(bad / "civil_mots.txt"), "--shared", str(work / "none")],
            "a civil_mots.txt that fails its SHA-256",
            None,
        ),
    ]


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def same_figures(out: Path, reference: Path) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        got, want = _json(out).get("results"), _json(reference).get("results")
        return None if got and got == want else f"figures {got} are not the undamaged {want}"

    return check


def has_checkpoint(run_dir: Path) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        last = _json(run_dir / "metrics.json").get("last_checkpoint")
        return None if last and Path(last).is_file() else "the run left no checkpoint"

    return check


def one_run_in(run_dir: Path) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        names = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
        extra = [n for n in names if "-v1" in n]
        return f"checkpoints of two runs: {names}" if extra or not names else None

    return check


def one_cache(folder: Path) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        ids = sorted(p.name for p in folder.glob("*.ids"))
        parts = sorted(p.name for p in folder.glob(".*.part"))
        return None if len(ids) == 1 and not parts else f"cache files {ids} {parts}"

    return check


def printed(words: str) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        seen = (work / "out" / "stdout").read_text()
        return None if words in seen else f"{words!r} not in what it printed: {seen[-200:]!r}"

    return check


def over(base: list[str], *extra: str) -> list[str]:
    """`base` with the overrides of `extra`: a key given again takes the later value."""
    merged = {arg.split("=", 1)[0]: arg for arg in base}
    merged.update((arg.split("=", 1)[0], arg) for arg in extra)
    return list(merged.values())


def text_cases(work: Path, r: dict[str, Path]) -> list[Case]:
    """Running text, lines and tokens, the Python API and runs at once: (r)uns by name."""
    bad, out = work / "bad", work / "out"
    tx, gp = r["text"] / "checkpoints/last.ckpt", r["textgpt"] / "checkpoints/last.ckpt"
    tk, cl = r["tokens"] / "checkpoints/last.ckpt", r["classifier"] / "checkpoints/last.ckpt"
    text, lines = work / "text.txt", work / "lines.txt"
    quick = ["trainer.max_steps=40", "trainer.val_check_interval=20", "logger=none",
             "callbacks.progress_bar=null", "num_threads=1"]  # fmt: skip
    on_text = ["data=text", f"data.path={text}", "data.block_size=16", *quick]
    on_lines = ["data=lines", f"data.path={lines}", "data.tokenizer.vocab_size=60", *quick]
    t, e, s, c, i = "charlm-train", "charlm-eval", "charlm-score", "charlm-sample", "charlm-inspect"

    def fresh(name: str) -> str:
        return f"hydra.run.dir={out / name}"

    return [
        Case(t, ["data=text", f"data.path={work / 'missing.txt'}"], "text: a file that does not exist"),
        Case(t, ["data=text", f"data.path={bad}"], "text: a directory as the text"),
        Case(t, ["data=text", f"data.path={bad / 'utf16.txt'}"], "text: a UTF-16 file"),
        Case(t, ["data=text", f"data.path={bad / 'nothing.txt'}"], "text: an empty file"),
        Case(t, ["data=text", f"data.path={bad / 'empty.txt'}"], "text: two newlines, nothing else"),
        Case(t, over(on_text, "data.split=[a,b,c]"), "text: split fractions that are not numbers"),
        Case(t, over(on_text, "data.split=0.5"), "text: a split that is one number"),
        Case(t, over(on_text, "time_budget_s=inf"), "text: an infinite time budget"),
        Case(t, over(on_text, "time_budget_s=nan"), "text: a time budget of nan"),
        Case(t, over(on_text, "time_budget_s=1e300"), "text: a time budget of 1e300 s"),
        Case(t, over(on_text, "data.block_size=0"), "text: a block of 0 characters"),
        Case(t, over(on_text, f"data.cache_dir={bad / 'empty.txt'}"), "text: a cache_dir that is a file"),
        Case(t, over(on_text, "data.split=[0.9,0,0.1]", fresh("noval")),
             "text: no validation split (nanoGPT's protocol)", check=has_checkpoint(out / "noval")),
        Case(t, over(on_text, f"data.path=[{text},{work / 'more.txt'}]", fresh("two-texts")),
             "text: two files given as a list", check=has_checkpoint(out / "two-texts")),
        Case(t, over(on_text, "model=gru", "model.net.hidden_size=16", "trainer.max_steps=80",
                 f"ckpt_path={tx}", fresh("longer")),
             "text: a finished one-cycle run asked for more updates"),
        Case(t, ["data=text", f"data.path={bad / 'shuffled.txt'}", "data.block_size=16",
                 "model=gru", "model.net.hidden_size=16", f"ckpt_path={tx}", *quick, fresh("other")],
             "text: resuming on another text of the same characters"),
        Case(t, [f"data.path={work / 'words.txt'}", f"ckpt_path={tx}", *quick, fresh("w")],
             "text: resuming a text run on a word list"),
        Case(t, over(on_lines, "data.tokenizer.vocab_size=10", fresh("tiny-vocab")),
             "tokens: a vocabulary smaller than the alphabet", check=has_checkpoint(out / "tiny-vocab")),
        Case(t, over(on_lines, "data.tokenizer.min_frequency=-1"), "tokens: min_frequency=-1"),
        Case(t, over(on_lines, "data.tokenizer.min_frequency=abc"), "tokens: min_frequency=abc"),
        Case(t, over(on_lines, "data.tokenizer.min_frequency=1.5"), "tokens: min_frequency=1.5"),
        Case(t, over(on_lines, "data.tokenizer.end_token=[EOS]"), "tokens: end_token=[EOS] unquoted"),
        Case(t, over(on_lines, 'data.tokenizer.end_token="[UNK]"'), "tokens: the unknown token ending lines"),
        Case(t, over(on_lines, f"data.tokenizer.path={work / 'missing.json'}"), "tokens: a tokenizer that does not exist"),
        Case(t, over(on_lines, f"data.tokenizer.path={bad / 'nounk.json'}"), "tokens: a tokenizer with no unknown token"),
        Case(t, over(on_lines, f"data.tokenizer.path={bad / 'text.ckpt'}"), "tokens: a tokenizer file that is not JSON"),
        Case(t, over(on_lines, "data.units=bytes"), "lines: units neither chars nor tokens"),
        Case(t, over(on_lines, f"data.path={bad / 'utf16.txt'}"), "lines: a UTF-16 file"),
        Case(e, [f"ckpt={tx}", f"output={out / 'text-eval.json'}"], "text: evaluating on its own text"),
        Case(e, [f"ckpt={tx}", f"data_path={bad / 'changed_text.txt'}"], "text: evaluating on a changed text"),
        Case(e, [f"ckpt={tx}", f"data_path={bad / 'changed_text.txt'}", "resplit=true"],
             "text: the same, re-split on purpose"),
        Case(e, [f"ckpt={tx}", f"data_path={work / 'damaged' / 'text.txt'}",
                 f"output={out / 'damaged-eval.json'}"],
             "text: a cache overwritten with zeros", may_change=("damaged/.charlm-cache",),
             check=same_figures(out / "damaged-eval.json", out / "reference-eval.json")),
        Case(e, [f"ckpt=[{tx},{gp}]", f"output={out / 'pair.json'}"], "text: an ensemble of a GRU and a Transformer"),
        Case(e, [f"ckpt={tx}", f"output={r['text'] / 'metrics.json'}"], "text: output= onto the run's metrics.json"),
        Case(e, [f"ckpt={tx}", f"output={tx}"], "text: output= onto the checkpoint"),
        Case(s, [f"ckpt={tx}", f"text={text}", f"output={tx}"], "text: scores onto the checkpoint"),
        Case(s, [f"ckpt={tx}", f"text={text}", f"output={r['text'] / '.hydra' / 'config.yaml'}"],
             "text: scores onto the run's .hydra/config.yaml"),
        Case(s, [f"ckpt={tx}", f"text={bad}"], "text: a directory to score"),
        Case(s, [f"ckpt={tx}", f"text={bad / 'fifo'}"], "text: a FIFO to score"),
        Case(s, [f"ckpt={tx}", f"text={work / 'missing.txt'}"], "text: scoring a file that does not exist"),
        Case(s, [f"ckpt={tx}", f"text={bad / 'utf16.txt'}"], "text: scoring a UTF-16 file"),
        Case(s, [f"ckpt={tx}", f"text={text}", "format=csv", f"output={out / 'text.csv'}"], "text: scores as CSV"),
        Case(c, [f"ckpt={tx}", "prompt=Le", "length=40"], "text: a passage"),
        Case(c, [f"ckpt={tx}", "prompt=Le chat ", "length=20"],
             "text: a prompt with spaces, as the shell passes it"),
        Case(c, [f"ckpt={tx}", "prompt=Le", "temperature=1e-40", "length=20"], "text: a temperature of 1e-40"),
        Case(c, [f"ckpt={tx}", "length=abc"], "text: a length that is not a number"),
        Case(c, [f"ckpt={tx}", "prompt=~@"], "text: a prompt of characters never seen"),
        Case(c, [f"ckpt={tk}", "n=3"], "tokens: sentences"),
        Case(e, [f"ckpt={tk}", f"output={out / 'tokens.json'}"], "tokens: evaluating"),
        Case(s, [f"ckpt={tk}", f"input={lines}", "top=3"], "tokens: scoring lines"),
        Case(i, [f"ckpt={tx}", f"output={out / 'text.png'}"], "text: the diagnostics figure"),
        Case(i, [f"ckpt={tk}", f"output={out / 'tokens.png'}"], "tokens: the diagnostics figure"),
        Case(i, [f"ckpt={cl}", f"output={out / 'classifier.png'}"], "a classifier: the diagnostics figure"),
        Case(c, [f"ckpt={cl}"], "a classifier's checkpoint to sample"),
        Case(e, [f"ckpt={cl}"], "a classifier's checkpoint to evaluate"),
        Case(s, [f"ckpt={cl}"], "a classifier's checkpoint to score", stdin="emma\n"),
        Case("charlm-clean", [str(text), "--rules", str(bad / "rules5.yaml")], "rules: 5"),
        Case("charlm-clean", [str(text), "--rules", str(bad / "group.yaml")], "a replacement naming a missing group"),
        Case("charlm-clean", [str(text), "--rules", str(bad / "dotall.yaml"), "--lines", "2"], "flags: DOTALL"),
        Case("charlm-clean", [str(text), "--output", str(out / "no" / "x.txt")], "--output into a missing folder"),
        Case("charlm-clean", [str(text), "--output", str(bad)], "--output onto a directory"),
        Case("charlm-clean", [str(text), "--output", str(bad / "hardlink.txt")], "--output onto a hard link of its input"),
        Case("charlm-clean", [str(text), "--lines", "abc"], "--lines abc"),
        Case("charlm-clean", [str(work / "missing.txt")], "a text that does not exist"),
        Case("python", api(f"""
            import charlm
            charlm.fit(None, ["data=text", "data.path={work / 'missing.txt'}"], root="{out}", quiet=True)
            """), "charlm.fit: a text that does not exist"),
        Case("python", api(f"""
            import charlm
            charlm.fit(None, {over(on_text, "data.split=0.5")!r}, root="{out}", quiet=True)
            """), "charlm.fit: a split that is one number"),
        Case("python", api(f"""
            import charlm
            charlm.fit(None, {over(on_text, f"hydra.run.dir={r['held']}")!r}, root="{out}", quiet=True)
            """), "charlm.fit: into a run directory in use", hold=r["held"]),
        Case("python", api(f"""
            import charlm
            run = charlm.fit(None, {over(on_text, fresh("fit"))!r}, root="{out}", quiet=True)
            print(run.model.sample_text("Le", 20))
            """), "charlm.fit: a text run, then a passage", check=has_checkpoint(out / "fit")),
        Case("python", api(f"""
            import charlm
            charlm.load_model("{cl}")
            """), "load_model: a classifier's checkpoint"),
        Case("python", api(f"""
            import charlm
            charlm.load_model("{work / 'missing.ckpt'}")
            """), "load_model: a checkpoint that does not exist"),
        Case("python", api(f"""
            import charlm
            print(charlm.load_model("{tx}").sample_text("~@", 20))
            """), "sample_text: a prompt of characters never seen"),
        Case("python", api(f"""
            from charlm.data.encoded import encode_text
            encoded = encode_text("{text}")
            print(encoded.vocab.decode(encoded.ids()[0:17].tolist()))
            """), "encode_text: the ids of a text, decoded", check=printed("Le chat dort sur")),
        Case(t, over(on_text, "model=gru", "model.net.hidden_size=16", fresh("together"), "seed={i}"),
             "two runs into one new run directory, started together", together=2, codes=(0, 2),
             check=one_run_in(out / "together")),
        Case(t, over(on_text, f"hydra.run.dir={r['held']}"), "a run into a run directory in use",
             hold=r["held"]),
        Case(t, ["data=text", f"data.path={work / 'new' / 'text.txt'}", "data.block_size=16", *quick,
                 fresh("new-{i}")],
             "two runs of one new text, encoding it together", together=2, codes=(0, 0),
             check=one_cache(work / "new" / ".charlm-cache")),
        Case(e, [f"ckpt={tx}", f"output={out / 'while.json'}"], "evaluating a run whose directory is in use",
             hold=r["text"]),
    ]  # fmt: skip


def fourth_round_cases(work: Path, r: dict[str, Path]) -> list[Case]:
    """Records as spreadsheets write them, figures and their arithmetic, options typed
    strictly, ensembles of other blocks, the course's checks and exercises, the views."""
    rec, out = work / "records", work / "out"
    tx, gp = r["text"] / "checkpoints/last.ckpt", r["textgpt"] / "checkpoints/last.ckpt"
    mlp = work / "runs" / "mlp" / "checkpoints" / "last.ckpt"
    t, e = "charlm-train", "charlm-eval"
    on = ["data=records", "data.field=name", "data.split=[0.6,0.2,0.2]", "trainer.max_steps=20",
          "model/scheduler=none", "logger=none", "callbacks.progress_bar=null", "num_threads=1"]  # fmt: skip
    words = [f"data.path={work / 'words.txt'}", "data.split=[0.6,0.2,0.2]", "trainer.max_steps=20",
             "logger=none", "callbacks.progress_bar=null", "num_threads=1"]  # fmt: skip
    course = """
            from charlm import course
            import torch
    """

    def fresh(name: str) -> str:
        return f"hydra.run.dir={out / name}"

    def metrics_test_loss(eval_json: Path, run_dir: Path) -> Callable[[Path], str | None]:
        def check(work: Path) -> str | None:
            got = _json(eval_json).get("results", {}).get("test", {}).get("loss")
            want = _json(run_dir / "metrics.json").get("test", {}).get("loss")
            return (
                None if got is not None and got == want else f"test {got} against the run's {want}"
            )

        return check

    return [
        Case(t, over(on, f"data.path={rec / 'repeated.csv'}"), "records: a header naming one column twice"),
        Case(t, over(on, f"data.path={rec / 'semicolons.csv'}", fresh("semicolons")),
             "records: a French spreadsheet's ; separators", check=has_checkpoint(out / "semicolons")),
        Case(t, over(on, f"data.path={rec / 'excel.csv'}", fresh("excel")),
             "records: Excel's CSV UTF-8 (a byte-order mark)", check=has_checkpoint(out / "excel")),
        Case(t, over(on, f"data.path={rec / 'semicolons.csv'}", 'data.delimiter=","'),
             "records: , forced on a file of ; separators"),
        Case(t, over(on, f"data.path={rec / 'newline.csv'}"), "records: a quoted field holding a line break"),
        Case(t, over(on, f"data.path={rec / 'newline.csv'}", fresh("newline"),
                     'data.clean.rules=[{pattern: "\\n", replace: " "}]'),
             "records: the same, with the rule its refusal gives", check=has_checkpoint(out / "newline")),
        Case(t, over(on, f"data.path={rec / 'object.jsonl'}"), "records: a JSON field holding an object"),
        Case(t, over(on, f"data.path={rec / 'number.jsonl'}"), "records: a JSON field holding a number"),
        Case(t, [*words, "trainer.accumulate_grad_batches=true"], "options: accumulate_grad_batches=true"),
        Case(t, [*words, "data.split_seed=true"], "options: split_seed=true"),
        Case(t, [*words, "trainer.devices=true"], "options: devices=true"),
        Case(t, [*words, "model.net.context_size=5"], "options: a window model's context on the model"),
        Case(e, [f"ckpt={tx}", "mode=dynamic", "dynamic_lr=1e30"], "eval: dynamic_lr=1e30"),
        Case(e, [f"ckpt={tx}", "precision=8-true"], "eval: precision=8-true"),
        Case(e, [f"ckpt={tx}", "precision=run", f"output={out / 'as-run.json'}"],
             "eval: precision=run gives metrics.json's figure",
             check=metrics_test_loss(out / "as-run.json", r["text"])),
        Case(e, [f"ckpt=[{gp},{tx}]", f"output={out / 'pair-longer-first.json'}"],
             "eval: an ensemble, the longer-block model first"),
        Case(e, [f"ckpt={tx}", f"data_path={rec / 'changed' / 'text.txt'}"],
             "eval: a changed text, refused before it is encoded (no cache)"),
        Case("python", ["-m", "charlm.course.exercises", "--lessons", str(ROOT / "notebooks"),
                        "--out", str(work / "words.txt")],
             "exercises: --out naming a file"),
        Case("python", ["-m", "charlm.course.exercises", "--lessons", str(rec / "lessons"),
                        "--out", str(out / "ex-broken")],
             "exercises: a solution never closed"),
        Case("python", api(f"""
            from pathlib import Path
            import nbformat
            from charlm.course.exercises import build_exercises
            out = Path("{out / 'ex'}")
            build_exercises(Path("{ROOT / 'notebooks'}"), out)
            nb = nbformat.read(out / "04_bigram.ipynb", as_version=4)
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {{}}).get("solution"))
            cell.source = cell.source.replace("raise NotImplementedError()", "return 'moi'")
            nbformat.write(nb, out / "04_bigram.ipynb")
            written, kept = build_exercises(Path("{ROOT / 'notebooks'}"), out)
            assert "return 'moi'" in (out / "04_bigram.ipynb").read_text()
            print("kept:", [p.name for p in kept])
            """), "exercises: built again over a student's answer", check=printed("kept: ['04_bigram.ipynb']")),
        Case("python", api(course + """
            many = ["ab"] * 300
            def counts(mots, stoi):
                n = torch.zeros(len(stoi), len(stoi), dtype=torch.int8)
                for m in mots:
                    for a, b in zip("." + m, m + "."):
                        n[stoi[a], stoi[b]] += 1
                return n
            print(repr(course.verifier_bigramme(counts, mots=many)))
            """), "course: int8 counts that overflow", check=printed("déborde")),
        Case("python", api(course + """
            def popper(mots, stoi):
                mots.clear()
                return torch.zeros(len(stoi), len(stoi), dtype=torch.long)
            def right(mots, stoi):
                n = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
                for m in mots:
                    for a, b in zip("." + m, m + "."):
                        n[stoi[a], stoi[b]] += 1
                return n
            course.verifier_bigramme(popper)
            print(repr(course.verifier_bigramme(right, mots=["loi", "code"])))
            """), "course: a function that empties the check's list, then a right one",
             check=printed("✅ Juste")),
        Case("python", api(course + """
            from charlm.course import verdict
            verdict.LIMITE_S = 1.0
            def never(p, itos, g):
                while True:
                    torch.multinomial(p[0], 1, generator=g)
            print(repr(course.verifier_echantillonneur(never)))
            """), "course: a sampler that never stops", check=printed("ne s'est pas arrêtée")),
        Case("python", api(course + """
            print(repr(course.verifier_xor(lambda x: torch.tensor([0.02, 0.97, 0.98, 0.03]))))
            """), "course: XOR as sigmoid probabilities", check=printed("des probabilités")),
        Case("python", api(course + """
            print(repr(course.verifier_fizzbuzz(lambda n: n % 3 == 0)))
            """), "course: fizzbuzz classes as booleans", check=printed("pas un booléen")),
        Case("python", api(f"""
            import charlm
            from charlm.course.views import AttentionView
            try:
                AttentionView(charlm.load_model("{tx}"), "Le chat")
            except ValueError as err:
                print("refused:", err)
            """), "views: AttentionView of a GRU without attention", check=printed("no attention layer")),
        Case("python", api(f"""
            import charlm
            from charlm.course.views import SamplerView
            try:
                SamplerView(charlm.load_model("{mlp}").vocab)
            except ValueError as err:
                print("refused:", err)
            """), "views: SamplerView of something not a model", check=printed("not a language model")),
    ]  # fmt: skip


def make_records_files(work: Path) -> None:
    """The records files, lessons and changed text the fourth round's cases read."""
    rec = work / "records"
    rec.mkdir()
    rows = [(str(i), w) for i, w in enumerate(WORDS)]
    (rec / "repeated.csv").write_text("name,name\n" + "".join(f"{w},{w}\n" for _, w in rows))
    (rec / "semicolons.csv").write_text("id;name\r\n" + "".join(f"{i};{w}\r\n" for i, w in rows))
    (rec / "excel.csv").write_bytes(
        ("id,name\r\n" + "".join(f"{i},{w}\r\n" for i, w in rows)).encode("utf-8-sig")
    )
    (rec / "newline.csv").write_text(
        'id,name\n0,"em\nma"\n' + "".join(f"{i},{w}\n" for i, w in rows[1:])
    )
    (rec / "object.jsonl").write_text('{"name": {"first": "emma"}}\n{"name": "ava"}\n')
    (rec / "number.jsonl").write_text('{"name": "ava"}\n{"name": 3}\n')
    (rec / "lessons").mkdir()
    (rec / "lessons" / "01_broken.py").write_text(
        '# %%\nimport torch\n\n# %% tags=["exercice"]\ndef f():\n    ### BEGIN SOLUTION\n'
        "    return 1\n"
    )
    (rec / "changed").mkdir()
    (rec / "changed" / "text.txt").write_text(TEXT + "Une autre phrase.\n", encoding="utf-8")


def make_bad_files(work: Path, ckpt: Path) -> None:
    import torch

    bad = work / "bad"
    bad.mkdir()
    (bad / "latin1.txt").write_bytes("été\nhiver\n".encode("latin-1"))
    (bad / "empty.txt").write_text("\n\n")
    (bad / "civil_mots.txt").write_text("pas\nle\nbon\nfichier\n")
    (bad / "random.ckpt").write_bytes(random.Random(0).randbytes(4096))
    (bad / "text.ckpt").write_text("hello, I am not a checkpoint\n")
    (bad / "empty.ckpt").write_bytes(b"")
    (bad / "truncated.ckpt").write_bytes(ckpt.read_bytes()[:3000])
    torch.save([1, 2, 3], bad / "list.ckpt")
    saved = torch.load(ckpt, weights_only=True)
    saved["charlm"]["config"] = "model: [unclosed"
    torch.save(saved, bad / "config.ckpt")
    (bad / "changed.txt").write_text("\n".join(WORDS[1:] + ["zoe"]) + "\n")
    (bad / "long.txt").write_text("emma\n" + "ab" * 12 + "\n")


def make_text_files(work: Path, text_run: Path) -> None:
    """The texts, lines, tokenizers, rules and damage the text cases read."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from charlm.data.encoded import encode_text

    bad = work / "bad"
    (bad / "nothing.txt").write_bytes(b"")
    (bad / "utf16.txt").write_bytes("Le chat dort.\n".encode("utf-16"))
    (bad / "changed_text.txt").write_text(TEXT + "Une autre phrase.\n", encoding="utf-8")
    (bad / "shuffled.txt").write_text("".join(reversed(TEXT)), encoding="utf-8")
    os.link(work / "text.txt", bad / "hardlink.txt")
    os.mkfifo(bad / "fifo")
    (bad / "rules5.yaml").write_text("rules: 5\n")
    (bad / "group.yaml").write_text("rules:\n- {pattern: 'a(b)', replace: '\\2'}\n")
    (bad / "dotall.yaml").write_text(
        "rules:\n- {pattern: 'chat.', replace: 'cat', flags: DOTALL}\n"
    )
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        LINES, trainers.BpeTrainer(vocab_size=60, special_tokens=["[EOS]", "[UNK]"])
    )
    tokenizer.save(str(bad / "nounk.json"))
    (work / "more.txt").write_text("Encore une ligne du texte.\n" * 20, encoding="utf-8")
    (work / "new").mkdir()
    (work / "new" / "text.txt").write_text(TEXT.replace("chat", "chien"), encoding="utf-8")
    damaged = work / "damaged"
    damaged.mkdir()
    shutil.copy(work / "text.txt", damaged / "text.txt")
    ids = encode_text(damaged / "text.txt").ids_path
    ids.write_bytes(bytes(ids.stat().st_size))  # the cache overwritten with zeros, same size
    (work / "runs" / "held").mkdir()
    (work / "out").mkdir()
    (work / "runs" / "held" / "note.txt").write_text("left by the run training here\n")
    out = run([str(BIN / "charlm-eval"), f"ckpt={text_run / 'checkpoints' / 'last.ckpt'}",
               f"output={work / 'out' / 'reference-eval.json'}"], work)  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"evaluating the text run failed:\n{out.stderr[-2000:]}")


def judge(out: subprocess.CompletedProcess, program: str) -> tuple[bool, str]:
    """Whether the run ended as it should, and the line that says what happened."""
    err = [line for line in out.stderr.splitlines() if line.strip()]
    if "Traceback" in out.stderr:
        return False, "traceback: " + (err[-1] if err else "")
    if out.returncode == 0:
        notes = [line for line in err if "note" in line or "skipped" in line]
        last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        return True, notes[0] if notes else last
    errors = [line for line in err if ": error:" in line]
    ok = out.returncode == 2 and len(errors) == 1 and errors[0].startswith(program)
    return ok, errors[0] if errors else (err[-1] if err else f"exit {out.returncode}")


def play(case: Case, work: Path) -> tuple[int, bool, str]:
    """Run one case: its exit status (that of the refused copy, for copies started together),
    whether it ended as it should, and the line that says what happened."""
    command = [str(BIN / case.program), *case.args]
    with held(case.hold):
        if case.together == 1:
            out = run(command, work, case.stdin)
            outs = [out]
        else:
            env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
            procs = [
                subprocess.Popen([a.replace("{i}", str(i)) for a in command], cwd=work, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(case.together)
            ]  # fmt: skip
            outs = []
            for proc in procs:
                stdout, stderr = proc.communicate(timeout=600)
                outs.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
            out = max(outs, key=lambda o: o.returncode)  # the refused one, if one is
    verdicts = [judge(o, case.program) for o in outs]
    ok = all(v[0] for v in verdicts)
    if case.together > 1 and tuple(sorted(o.returncode for o in outs)) != case.codes:
        ok = False
    line = judge(out, case.program)[1]
    (work / "out").mkdir(exist_ok=True)
    (work / "out" / "stdout").write_text(out.stdout)
    if ok and out.returncode == 0 and case.check:
        problem = case.check(work)
        if problem:
            ok, line = False, "wrong result: " + problem
    return out.returncode, ok, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="charlm-redteam-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "words.txt").write_text("\n".join(WORDS) + "\n")
    (work / "text.txt").write_text(TEXT, encoding="utf-8")
    (work / "lines.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    started = time.perf_counter()
    mlp = train(work, "mlp", "trainer.max_steps=200")
    gpt = train(work, "transformer", "experiment=transformer", "trainer.max_steps=50",
                "model.net.num_layers=1", "model.net.emb_size=16", "model.net.context_size=12")  # fmt: skip
    short = ("trainer.max_steps=40", "trainer.val_check_interval=20")
    runs = {
        "text": train(work, "text", "data=text", "data.block_size=16", "model=gru",
                      "model.net.hidden_size=16", *short, data="text.txt"),
        "textgpt": train(work, "textgpt", "data=text", "data.block_size=24", "model=transformer",
                         *short, data="text.txt"),
        "tokens": train(work, "tokens", "data=lines", "data.tokenizer.vocab_size=60", *short,
                        data="lines.txt"),
        "classifier": train(work, "classifier", "experiment=xor_sigmoid", "trainer.max_steps=100",
                            data=None),
        "held": work / "runs" / "held",
    }  # fmt: skip
    make_bad_files(work, mlp / "checkpoints" / "last.ckpt")
    make_text_files(work, runs["text"])
    make_records_files(work)
    every = [Case(*case) for case in cases(work, mlp, gpt)] + text_cases(work, runs)
    every += fourth_round_cases(work, runs)
    first = before = fingerprint(work)
    rows, failed = [], 0
    for i, case in enumerate(every, 1):
        code, ok, line = play(case, work)
        after = fingerprint(work)
        touched = changed(before, after, case.may_change if code == 0 else ())
        if code != 0:  # a refused command writes nothing: no cache of what it refused either
            touched += sorted(k for k in after if k not in before and ".charlm-cache" in k)
        if touched:
            ok, line = False, "CHANGED " + ", ".join(touched)
        before = after
        failed += not ok
        shown = line.replace(str(work), "<work>").replace("|", "/")
        if len(shown) > 150:
            shown = shown[:147] + "..."
        label = case.program if case.program != "python" else "python -c"
        rows.append(
            f"| {i} | `{label}` | {case.what} | {code} | {'ok' if ok else 'FAIL'} | {shown} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    allowed = tuple(p for case in every for p in case.may_change)
    lost = changed(first, fingerprint(work), allowed)
    print("| # | command | input | exit | verdict | what it said |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print(
        f"{len(rows)} cases, {len(rows) - failed} as they should be, {failed} not; "
        f"{len(first)} files watched (checkpoints, metrics.json, .hydra/, data, tokenizers, "
        f"caches): {'all unchanged' if not lost else 'CHANGED: ' + ', '.join(lost)}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed or lost else 0)


if __name__ == "__main__":
    main()
