"""Multirun grids and their report, Optuna search, launchers, DDP presets, a real TensorBoard."""

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml
from commands import run_command
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from charlm.config import config_dir
from charlm.errors import CharlmError
from charlm.report import collect

TINY = ("trainer.max_steps=200", "trainer.val_check_interval=100", "callbacks.progress_bar=null",
        "data.split=[0.6,0.2,0.2]", "logger=none", "callbacks.embedding_plot=null",
        "callbacks.sample_words=null")  # fmt: skip


def _multirun(tmp_path: Path, corpus: Path, *args: str) -> tuple[str, Path]:
    out = run_command("charlm-train", "-m", f"data.path={corpus}", *TINY, *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    sweeps = list((tmp_path / "logs" / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1
    return out.stdout, sweeps[0]


@pytest.mark.slow
def test_a_multirun_over_model_families_ranks_them(tmp_path, tiny_corpus):
    # Window and sequence families in one sweep: each job gets the data its model reads.
    stdout, sweep = _multirun(tmp_path, tiny_corpus, "model=bengio_mlp,gru,transformer")
    with (sweep / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["overrides"] for r in rows) == [
        "model=bengio_mlp",
        "model=gru",
        "model=transformer",
    ]
    assert all(r["status"] == "ok" for r in rows)
    losses = [float(r["val_loss"]) for r in rows]
    assert losses == sorted(losses)
    params = {r["overrides"]: int(r["params"]) for r in rows}
    assert params["model=transformer"] > params["model=gru"] > params["model=bengio_mlp"]


@pytest.mark.slow
def test_a_multirun_can_report_its_models_as_one_ensemble(tmp_path, tiny_corpus):
    # experiment=lm_best's mechanism: the members' recipes, then their ensemble evaluated.
    stdout, sweep = _multirun(
        tmp_path, tiny_corpus, "+member=gru,transformer", "report_ensemble=true",
        "trainer.max_steps=60", "data.batch_size=16",
    )  # fmt: skip
    assert "ensemble of 2 models" in stdout
    ensemble = json.loads((sweep / "ensemble.json").read_text())
    assert len(ensemble["checkpoints"]) == 2
    from charlm import load_model
    from charlm.inference import evaluate_checkpoint

    assert evaluate_checkpoint(ensemble["checkpoints"]) == ensemble["results"]
    model = load_model(ensemble["checkpoints"])
    assert type(model).__name__ == "EnsembleLM"


@pytest.mark.slow
def test_grid_multirun_runs_every_combination_and_reports_them(tmp_path, tiny_corpus):
    stdout, sweep = _multirun(
        tmp_path, tiny_corpus, "model.net.hidden_size=8,16", "model.net.emb_size=2,4"
    )
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    combos = {tuple(yaml.safe_load((j / ".hydra/overrides.yaml").read_text())[-2:]) for j in jobs}
    assert len(combos) == 4
    for job in jobs:
        assert (job / "metrics.json").is_file() and (job / "checkpoints" / "last.ckpt").is_file()
    # The report printed at the end of the multirun, and its CSV, best val loss first.
    assert "sweep report written to" in stdout
    with (sweep / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    losses = [float(r["val_loss"]) for r in rows]
    assert losses == sorted(losses)
    best = json.loads((sweep / rows[0]["job"] / "metrics.json").read_text())
    assert best["val"]["loss"] == pytest.approx(losses[0])
    assert {"model.net.hidden_size=8", "model.net.emb_size=2"} & set(rows[0]["overrides"].split())
    # charlm-report gives the same table from the directory alone.
    again = run_command("charlm-report", str(sweep))
    assert again.returncode == 0 and again.stdout.splitlines()[1].startswith(rows[0]["job"])


@pytest.mark.slow
def test_failed_jobs_are_listed_as_failed_and_the_sweep_goes_on(tmp_path, tiny_corpus):
    _, sweep = _multirun(tmp_path, tiny_corpus, "model.optimizer.lr=0.05,-1,1e38")
    rows = collect(sweep)
    assert [r["status"] for r in rows][0] == "ok"
    failed = {r["overrides"]: r["status"] for r in rows[1:]}
    assert "model.optimizer.lr" in failed["model.optimizer.lr=-1"]
    assert "ConfigError" in failed["model.optimizer.lr=-1"]
    assert "NonFiniteLossError" in failed["model.optimizer.lr=1e+38"]


def _search_with_lr(tmp_path: Path, lr_choices: str) -> str:
    """A search config of the test's own: mlp_optuna with the given learning-rate choices."""
    conf = tmp_path / "extra_conf" / "hparams_search"
    conf.mkdir(parents=True)
    (conf / "lr_test.yaml").write_text(
        "# @package _global_\ndefaults:\n  - mlp_optuna\n"
        f"hydra:\n  sweeper:\n    params:\n      model.optimizer.lr: {lr_choices}\n"
    )
    return f"hydra.searchpath=[file://{tmp_path / 'extra_conf'}]"


@pytest.mark.slow
def test_optuna_search_of_three_trials_survives_a_diverging_trial(tmp_path, tiny_corpus):
    _, sweep = _multirun(
        tmp_path, tiny_corpus, _search_with_lr(tmp_path, "choice(0.05, 1e38)"),
        "hparams_search=lr_test", "hydra.sweeper.n_trials=3",
    )  # fmt: skip
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 3
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = []
    for job in jobs:
        if (job / "metrics.json").is_file():
            values.append(json.loads((job / "metrics.json").read_text())["val"]["loss"])
        else:
            assert "NonFiniteLossError" in (job / "failed.json").read_text()
            values.append(1.0e9)
    assert results["best_value"] == pytest.approx(min(values))
    assert set(results["best_params"]) == {
        "data.context_size", "model.net.emb_size", "model.net.hidden_size",
        "model.optimizer.lr", "data.batch_size",
    }  # fmt: skip


@pytest.mark.slow
def test_optuna_search_where_every_trial_diverges_still_finishes(tmp_path, tiny_corpus):
    _, sweep = _multirun(
        tmp_path, tiny_corpus, _search_with_lr(tmp_path, "choice(1e38)"),
        "hparams_search=lr_test", "hydra.sweeper.n_trials=2",
    )  # fmt: skip
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == 1.0e9
    assert all(r["status"].startswith("failed") for r in collect(sweep))


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_into_separate_directories(tmp_path, tiny_corpus):
    _, sweep = _multirun(
        tmp_path, tiny_corpus, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "model.net.hidden_size=8,16",
    )  # fmt: skip
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [j.name for j in jobs] == ["0", "1"]
    ckpts = [(j / "checkpoints" / "last.ckpt").read_bytes() for j in jobs]
    assert ckpts[0] != ckpts[1]
    metrics = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert metrics[0]["output_dir"] != metrics[1]["output_dir"]


def test_slurm_launcher_composes_and_shows_its_settings():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.timeout_min == 120 and launcher.tasks_per_node == 1
    assert "partition" in launcher and "gpus_per_node" in launcher


def _run_files(run: Path) -> set[str]:
    """What a run wrote, TensorBoard's event file names (they carry host and pid) aside."""
    return {
        str(p.relative_to(run)) for p in run.rglob("*")
        if p.is_file() and "events.out.tfevents" not in p.name
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", [(), ("model=gru", "model.net.hidden_size=16", "model.net.emb_size=8")],
    ids=["window", "sequence"],
)  # fmt: skip
def test_ddp_sim_trains_in_two_processes_with_synchronised_metrics(tmp_path, tiny_corpus, model):
    common = ["charlm-train", f"data.path={tiny_corpus}", *model,
              "data.steps_per_batch=10", "trainer.max_steps=60", "trainer.val_check_interval=30",
              "data.split=[0.6,0.2,0.2]", "callbacks.progress_bar=null"]  # fmt: skip
    # The launching process is this one; ddp_spawn starts the two training processes.
    out = run_command(*common, "trainer=ddp_sim", "hydra.run.dir=ddp", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "ddp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 60
    assert {"train", "val", "test"} <= set(metrics)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard")).Reload()
    # test/loss aggregated over both processes' shards equals the loss over the whole split.
    assert events.Scalars("test/loss")[-1].value == pytest.approx(metrics["test"]["loss"], rel=1e-5)
    if model:
        single = run_command(*common, "hydra.run.dir=single", cwd=tmp_path)
        assert single.returncode == 0, single.stderr[-3000:]
        assert _run_files(run) == _run_files(tmp_path / "single")
        assert set(json.loads((tmp_path / "single" / "metrics.json").read_text())) == set(metrics)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_a_real_tensorboard_server_serves_the_runs_scalars_and_hparams(trained_run):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(trained_run["dir"]),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while True:
            try:
                runs = _get(f"{base}/data/runs")
                if runs:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "TensorBoard did not answer within 60 s"
            assert server.poll() is None, "TensorBoard exited"
            time.sleep(0.5)
        assert runs == ["tensorboard"]
        tags = _get(f"{base}/data/plugin/scalars/tags")["tensorboard"]
        assert {"train/loss", "val/loss", "val/ppl", "val/bpc", "test/loss"} <= set(tags)
        points = _get(f"{base}/data/plugin/scalars/scalars?run=tensorboard&tag=val/loss")
        assert [p[1] for p in points] == [300, 600]  # [wall time, step, value]
        final = json.loads((trained_run["dir"] / "metrics.json").read_text())
        test_points = _get(f"{base}/data/plugin/scalars/scalars?run=tensorboard&tag=test/loss")
        assert test_points[-1][2] == pytest.approx(final["test"]["loss"], rel=1e-5)
        experiment = _get(f"{base}/data/plugin/hparams/experiment", b'{"experimentName": ""}')
        hparams = {h["name"] for h in experiment["hparamInfos"]}
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"model.emb_size", "optimizer.lr", "seed"} <= hparams
        assert {"hp/val_loss", "hp/test_loss"} <= metrics
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def test_each_process_draws_its_own_chunks_and_scores_its_share_once(tiny_corpus):
    # Where charlm.train is not the caller: a Trainer of several processes, seen by one rank.
    from types import SimpleNamespace

    from charlm.data import CharWindowDataModule

    def rank(r: int, world: int = 2) -> CharWindowDataModule:
        dm = CharWindowDataModule(
            tiny_corpus, split=[0.6, 0.2, 0.2], steps_per_batch=10, eval_batch_size=4
        )
        dm.setup()
        dm.trainer = SimpleNamespace(world_size=world, global_rank=r, max_steps=100, global_step=0)
        return dm

    first, second = rank(0), rank(1)
    assert second.train_dataloader().dataset.seed == first.train_dataloader().dataset.seed + 1
    assert next(iter(first.train_dataloader())).updates == 10  # chunks, as in one process
    # The two shares of the validation split hold each of its predictions exactly once.
    shares = [torch.cat([y for _, y in dm.val_dataloader()]) for dm in (first, second)]
    whole = first.splits["val"][1]
    assert sum(len(s) for s in shares) == len(whole)
    assert torch.equal(torch.sort(torch.cat(shares)).values, torch.sort(whole).values)
    with pytest.raises(CharlmError, match="too small to share among 1000 processes"):
        rank(0, world=1000).test_dataloader()
