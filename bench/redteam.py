"""Red team: bad and unusual input to every command, as a new user would give it.

Trains two tiny models in a scratch directory (a window MLP and a Transformer), then runs each
case below as its own process and checks that it either succeeds (exit 0) or stops with exit
status 2 and one line naming the problem; that nothing prints a traceback; and that the
checkpoints, metrics.json, .hydra/ files and word lists are byte for byte as they were.
Prints a Markdown table (docs/troubleshooting.md holds one) and exits 1 if a case fails.

    make redteam          # or: .venv/bin/python bench/redteam.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
    "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
    "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla",
    "riley", "zoey", "nora", "lily", "eleanor", "hannah", "lillian", "addison", "aubrey",
]  # fmt: skip


def run(cmd: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, input=stdin, env=env, timeout=600
    )


def fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every checkpoint, metrics.json, .hydra/ file and word list under `root`."""
    found = {}
    for path in sorted(root.rglob("*")):
        keep = path.suffix in (".ckpt", ".txt") or path.name == "metrics.json"
        if path.is_file() and (keep or ".hydra" in path.parts):
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def train(work: Path, name: str, *overrides: str) -> Path:
    run_dir = work / "runs" / name
    out = run(
        [str(BIN / "charlm-train"), f"data.path={work / 'words.txt'}", "data.split=[0.6,0.2,0.2]",
         f"hydra.run.dir={run_dir}", "callbacks.progress_bar=null", "logger=none", "num_threads=1",
         *overrides],
        work,
    )  # fmt: skip
    if out.returncode != 0:
        sys.exit(f"setting up the {name} run failed:\n{out.stderr[-2000:]}")
    return run_dir


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="charlm-redteam-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "words.txt").write_text("\n".join(WORDS) + "\n")
    started = time.perf_counter()
    mlp = train(work, "mlp", "trainer.max_steps=200")
    gpt = train(work, "transformer", "experiment=transformer", "trainer.max_steps=50",
                "model.net.num_layers=1", "model.net.emb_size=16", "model.net.context_size=12")  # fmt: skip
    make_bad_files(work, mlp / "checkpoints" / "last.ckpt")
    before = fingerprint(work)
    rows, failed = [], 0
    for i, (program, arguments, what, stdin) in enumerate(cases(work, mlp, gpt), 1):
        out = run([str(BIN / program), *arguments], work, stdin)
        ok, line = judge(out, program)
        failed += not ok
        shown = line.replace(str(work), "<work>").replace("|", "/")
        if len(shown) > 150:
            shown = shown[:147] + "..."
        rows.append(
            f"| {i} | `{program}` | {what} | {out.returncode} | {'ok' if ok else 'FAIL'} | {shown} |"
        )
    after = fingerprint(work)
    changed = sorted(k for k in before if before[k] != after.get(k))
    print("| # | command | input | exit | verdict | what it said |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print(
        f"{len(rows)} cases, {len(rows) - failed} as they should be, {failed} not; "
        f"{len(before)} files watched (checkpoints, metrics.json, .hydra/, word lists): "
        f"{'all unchanged' if not changed else 'CHANGED: ' + ', '.join(changed)}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed or changed else 0)


if __name__ == "__main__":
    main()
