"""Multi-process runs as a cluster starts them: `torchrun`, or `srun`'s environment for 2 tasks
on one node; two CPU processes (gloo) of one thread each. One run directory, written by rank 0
alone, and the figures of a one-process evaluation of the same checkpoint."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from commands import BIN, run_command
from conftest import TINY_WORDS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("distributed")]

TESTS = Path(__file__).resolve().parent
COMMON = (
    "trainer=ddp_cpu", "trainer.max_steps=60", "trainer.val_check_interval=20",
    "data.split=[0.6,0.2,0.2]", "callbacks.progress_bar=null", "seed=3",
)  # fmt: skip
KINDS = {
    "words": ("data.steps_per_batch=10",),
    "text": (
        "data=text",
        "model=gru",
        "model.net.hidden_size=16",
        "model.net.emb_size=8",
        "data.block_size=16",
        "data.batch_size=4",
        "data.steps_per_batch=10",
    ),
    "lines": (
        "data=lines",
        "model=gru",
        "model.net.hidden_size=16",
        "model.net.emb_size=8",
        "data.batch_size=4",
        "data.steps_per_batch=10",
    ),
}


def _data(tmp_path: Path, kind: str) -> str:
    if kind == "words":
        path = tmp_path / "words.txt"
        path.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    else:
        rng = random.Random(0)
        lines = [" ".join(rng.choices(TINY_WORDS, k=rng.randint(2, 6))) for _ in range(150)]
        path = tmp_path / "story.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"data.path={path}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC"))}
    return {**env, "PYTHONPATH": str(TESTS), "PYTHONUNBUFFERED": "1", **extra}


def _torchrun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2",
         str(BIN / "charlm-train"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _srun(cwd: Path, *args: str) -> list[subprocess.CompletedProcess]:
    """Two tasks on one node, with the variables srun sets for each."""
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = _env(
            SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="2", SLURM_NNODES="1", SLURM_PROCID=str(rank),
            SLURM_LOCALID=str(rank), SLURM_NODEID="0", SLURM_JOB_ID="4242",
            SLURM_JOB_NAME="charlm", SLURM_NODELIST="127.0.0.1", MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [str(BIN / "charlm-train"), *args],
                cwd=cwd,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )  # fmt: skip
        )
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _one_run(cwd: Path) -> Path:
    """The one run directory under cwd/logs, checked to hold a whole run."""
    runs = sorted((cwd / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert {p.name for p in run.iterdir()} >= {"metrics.json", "checkpoints", "tensorboard"}
    assert (run / "checkpoints" / "last.ckpt").is_file()
    # One TensorBoard run, written by one process: event files are named ...<host>.<pid>.<n>.
    events = list((run / "tensorboard").rglob("events.out.tfevents*"))
    assert events and len({e.name.split(".")[-2] for e in events}) == 1, events
    return run


def _same_as_one_process(run: Path, cwd: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 60
    batch = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["data"]["batch_size"]
    assert metrics["global_batch_size"] == 2 * batch
    ckpt = Path(metrics["best_checkpoint"] or metrics["last_checkpoint"])
    out = run_command("charlm-eval", f"ckpt={ckpt}", f"output={cwd / 'eval.json'}", cwd=cwd)
    assert out.returncode == 0, out.stderr
    again = json.loads((cwd / "eval.json").read_text())["results"]
    for split in ("train", "val", "test"):
        assert metrics[split]["loss"] == pytest.approx(again[split]["loss"], rel=1e-6)
    return metrics


@pytest.mark.parametrize("kind", ["words", "text"])
def test_torchrun_trains_one_run_with_the_figures_of_one_process(tmp_path, kind):
    ranks = tmp_path / "ranks"
    out = _torchrun(
        tmp_path, _data(tmp_path, kind), *KINDS[kind], *COMMON,
        "+callbacks.ranks._target_=helpers.ddp.SaveRankWeights", f"+callbacks.ranks.dir={ranks}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = _one_run(tmp_path)
    assert "charlm-rank" not in " ".join(os.listdir(tmp_path))
    _same_as_one_process(run, tmp_path)
    # Chunks of 10 updates a Lightning batch: every update's gradients are summed over the
    # processes, which drew different minibatches, so their weights end the same.
    first, second = (torch.load(ranks / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert not torch.equal(first["batches"], second["batches"])
    for key in first["weights"]:
        assert torch.equal(first["weights"][key], second["weights"][key]), key


def test_lines_train_under_torchrun(tmp_path):
    out = _torchrun(tmp_path, _data(tmp_path, "lines"), *KINDS["lines"], *COMMON)
    assert out.returncode == 0, out.stderr[-3000:]
    _same_as_one_process(_one_run(tmp_path), tmp_path)


def test_srun_tasks_train_one_run_with_the_figures_of_one_process(tmp_path):
    done = _srun(tmp_path, _data(tmp_path, "words"), *KINDS["words"], *COMMON)
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-3000:]
    run = _one_run(tmp_path)
    _same_as_one_process(run, tmp_path)
    # Rank 0 prints the closing table; the other ranks say nothing of their own.
    assert "run directory:" in done[0].stdout and "run directory:" not in done[1].stdout


def test_a_multirun_whose_jobs_are_two_process_runs(tmp_path):
    # As hydra/launcher=slurm with tasks_per_node=2 runs it: every task runs each job of the
    # sweep, in the job's directory.
    sweep = tmp_path / "sweep"
    done = _srun(
        tmp_path, "-m", _data(tmp_path, "words"), *KINDS["words"], *COMMON,
        f"hydra.sweep.dir={sweep}", "model.net.hidden_size=8,16",
    )  # fmt: skip
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-3000:]
    for job, hidden in (("0", 8), ("1", 16)):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["world_size"] == 2 and metrics["steps"] == 60
        config = yaml.safe_load((sweep / job / ".hydra" / "config.yaml").read_text())
        assert config["model"]["net"]["hidden_size"] == hidden
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()


def _resumes_as_straight(tmp_path: Path, common: tuple[str, ...], last: Path) -> None:
    """Resumed from `last` with the same two processes, the run ends as the uninterrupted
    one in `tmp_path/straight` did."""
    resumed = _torchrun(tmp_path, *common, f"ckpt_path={last}", "hydra.run.dir=resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    b = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert a["steps"] == b["steps"] == 60
    for split in ("train", "val", "test"):
        assert a[split]["loss"] == pytest.approx(b[split]["loss"], rel=1e-6)


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_result(tmp_path):
    data = _data(tmp_path, "words")
    common = (data, *KINDS["words"], *COMMON)
    straight = _torchrun(tmp_path, *common, "hydra.run.dir=straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    killed = _torchrun(
        tmp_path, *common, "hydra.run.dir=killed", "+callbacks.die._target_=helpers.ddp.DieAt",
        "+callbacks.die.step=45",
    )  # fmt: skip
    assert killed.returncode != 0 and "killed at step" in killed.stderr
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 40
    _resumes_as_straight(tmp_path, common, last)


def _errors(stderr: str) -> list[str]:
    """Each rank's one-line error. The ranks write to one stderr at about the same time, so a
    line of one may run into the other's: an error is found by its prefix, not by line."""
    marker = "charlm-train: error:"
    return [marker + part.split("\n", 1)[0] for part in stderr.split(marker)[1:]]


def test_a_bad_config_stops_every_rank_with_status_2_and_one_line(tmp_path):
    out = _torchrun(tmp_path, _data(tmp_path, "words"), *COMMON, "data.batch_size=0")
    assert out.returncode != 0
    lines = _errors(out.stderr)
    assert len(lines) == 2 and len(set(lines)) == 1 and "data.batch_size" in lines[0], out.stderr
    # torchrun's report of its failed workers: each exited with status 2.
    assert out.stderr.count("exitcode  : 2") + out.stderr.count("exitcode: 2") >= 1, out.stderr
    # As in one process, the run directory holds the config and the log of the refusal: one.
    assert len(list((tmp_path / "logs" / "train" / "runs").iterdir())) == 1


def test_srun_tasks_of_a_bad_config_each_exit_with_status_2(tmp_path):
    done = _srun(tmp_path, _data(tmp_path, "words"), *COMMON, "model.net.hidden_size=-1")
    for proc in done:
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_launch_reads_torchrun_and_srun_environments(monkeypatch):
    from charlm.launch import Launch, launch_value, this_launch

    for key in list(os.environ):
        if key.startswith(("SLURM_", "TORCHELASTIC")):
            monkeypatch.delenv(key)
    assert this_launch() == Launch()
    assert launch_value("devices", "auto") == "auto"
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4(x2)")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "charlm")
    assert this_launch() == Launch("srun", 5, 1, 8, 4)
    assert (launch_value("devices"), launch_value("num_nodes")) == (4, 2)
    monkeypatch.delenv("SLURM_NTASKS_PER_NODE")  # sbatch without --ntasks-per-node
    monkeypatch.setenv("SLURM_TASKS_PER_NODE", "2(x4)")
    assert this_launch().local_world_size == 2 and launch_value("num_nodes") == 4
    monkeypatch.delenv("SLURM_TASKS_PER_NODE")
    monkeypatch.setenv("SLURM_NNODES", "2")
    assert this_launch().local_world_size == 4
    # torchrun inside a SLURM allocation: torchrun's ranks, as Lightning reads them.
    for key, value in dict(
        TORCHELASTIC_RUN_ID="x", RANK="3", LOCAL_RANK="1", WORLD_SIZE="4", LOCAL_WORLD_SIZE="2",
        GROUP_RANK="1",
    ).items():  # fmt: skip
        monkeypatch.setenv(key, value)
    assert this_launch() == Launch("torchrun", 3, 1, 4, 2)


@pytest.mark.parametrize("script", ["one_node.sbatch", "several_nodes.sbatch"])
def test_the_sbatch_scripts_start_charlm_train_under_srun_with_a_config_that_composes(
    tmp_path, make_cfg, script
):
    path = TESTS.parent / "docs" / "slurm" / script
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    # A stand-in srun that records what the script asks it to start.
    srun = tmp_path / "bin" / "srun"
    srun.parent.mkdir()
    srun.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_ARGS"\n')
    srun.chmod(0o755)
    env = {**_env(), "PATH": f"{srun.parent}:{os.environ['PATH']}", "SLURM_JOB_ID": "77",
           "SRUN_ARGS": str(tmp_path / "args")}  # fmt: skip
    done = subprocess.run(["bash", str(path), "experiment=bengio2003", "trainer.max_steps=5"],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    program, *overrides = (tmp_path / "args").read_text().splitlines()
    assert program.endswith("charlm-train")
    assert "hydra.run.dir=logs/train/runs/slurm-77" in overrides
    cfg = make_cfg(*(o for o in overrides if not o.startswith("hydra.")))
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.max_steps == 5
    assert cfg.model.net.hidden_size == make_cfg("experiment=bengio2003").model.net.hidden_size


def test_sigterm_to_one_rank_stops_every_rank_at_one_update_and_resumes_exactly(tmp_path):
    """One rank's signal is agreed by both, which stop after the same update and write one
    checkpoint; resumed with the same processes it ends as the uninterrupted run. Resumed with
    one process, the global batch would halve: refused, unless data.batch_size keeps it, and
    then the run says so in one line and in metrics.json."""
    data = _data(tmp_path, "words")
    common = (data, *KINDS["words"], *COMMON)
    straight = _torchrun(tmp_path, *common, "hydra.run.dir=straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    stopped = _torchrun(
        tmp_path, *common, "hydra.run.dir=stopped", "+callbacks.term._target_=helpers.ddp.SignalAt",
        "+callbacks.term.step=25", "+callbacks.term.rank=1",
    )  # fmt: skip
    both = stopped.stdout + stopped.stderr
    assert both.count("interrupted at step 30") == 2, both[-3000:]  # each rank, one update
    last = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 30
    assert saved["charlm"]["world_size"] == 2 and saved["charlm"]["global_batch_size"] == 64
    _resumes_as_straight(tmp_path, common, last)
    one = (data, *KINDS["words"], *COMMON[1:], f"ckpt_path={last}")
    halved = run_command("charlm-train", *one, "hydra.run.dir=halved", cwd=tmp_path)
    assert halved.returncode == 2, halved.stderr[-2000:]
    errors = [line for line in halved.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "trained by 2 process(es) with a global batch of 64" in errors[0]
    assert "data.batch_size=64 to keep it" in errors[0]
    kept = run_command(
        "charlm-train", *one, "data.batch_size=64", "hydra.run.dir=kept", cwd=tmp_path
    )
    assert kept.returncode == 0, kept.stderr[-2000:]
    notes = json.loads((tmp_path / "kept" / "metrics.json").read_text())["notes"]
    assert any("resumed with 1 process(es) a run of 2" in n for n in notes)


def test_a_non_finite_loss_on_one_rank_stops_every_rank_at_the_same_update(tmp_path):
    """One rank's NaN loss at update 11 goes through the gradients' all-reduce to both ranks'
    weights, and both stop at the end of that chunk with one line each, agreed there: none
    waits for the other."""
    stopped = _torchrun(
        tmp_path, _data(tmp_path, "words"), *KINDS["words"], *COMMON, "hydra.run.dir=nan",
        "+callbacks.nan._target_=helpers.ddp.PoisonRank", "+callbacks.nan.step=10",
        "+callbacks.nan.rank=1",
    )  # fmt: skip
    assert stopped.returncode != 0
    lines = _errors(stopped.stderr)
    assert len(lines) == 2, stopped.stderr[-3000:]
    assert any("training loss became nan at step 11" in line for line in lines), lines
    # Rank 1's loss at update 11; rank 0's at update 12, its weights made NaN by update 11's
    # all-reduce. Both stopped at the chunk's end, together.
    assert any("training loss became nan at step 11 on this process" in line for line in lines)
    assert any("training loss became nan at step 12 on this process" in line for line in lines)
