"""`charlm-report SWEEP_DIR`: every run of a multirun, its overrides and final losses, best first."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml

from charlm.data.batches import SPLITS
from charlm.metrics import METRICS, format_metric, metric_names

# Around the metrics: which run a row is, and what it cost.
JOB_COLUMNS = ("job", "status", "overrides")
RUN_COLUMNS = ("steps", "params", "train_s")


def collect(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per job directory (those holding .hydra/overrides.yaml), ranked best first.

    Runs are ranked by val loss (train loss when they have no validation split); a job without
    metrics.json failed or is still running: it is listed with its error, after the others.
    """
    sweep_dir = Path(sweep_dir)
    jobs = {
        f.parent.parent: yaml.safe_load(f.read_text()) or []
        for f in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))
    }
    # Overrides every job shares (the sweep's fixed settings) say nothing about the ranking.
    shared = set.intersection(*(set(o) for o in jobs.values())) if len(jobs) > 1 else set()
    rows = []
    for job_dir, overrides in jobs.items():
        varying = [o for o in overrides if o not in shared]
        row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(varying)}
        metrics_file = job_dir / "metrics.json"
        failure_file = job_dir / "failed.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text())
            row["status"] = "ok"
            for split in SPLITS:
                for name, value in (metrics.get(split) or {}).items():
                    row[f"{split}_{name}"] = value
            row["steps"] = metrics.get("steps")
            row["params"] = metrics.get("parameters")
            row["train_s"] = metrics.get("train_time_s")
        elif failure_file.is_file():
            row["status"] = "failed: " + json.loads(failure_file.read_text()).get("error", "")
        else:
            row["status"] = "failed (no metrics.json)"
        rows.append(row)

    def rank(row: dict[str, Any]) -> tuple[int, float]:
        score = row.get("val_loss") if row.get("val_loss") is not None else row.get("train_loss")
        ok = row["status"] == "ok" and score is not None and math.isfinite(score)
        return (0, score) if ok else (1, math.inf)

    return sorted(rows, key=rank)


def metric_columns(rows: list[dict[str, Any]], short: bool = False) -> list[str]:
    """`split_metric` columns of the metrics the rows hold, in `METRICS` order.

    `short`: only the splits that each metric's catalogue entry shows in the printed table.
    """
    keys = {key for row in rows for key in row if key not in RUN_COLUMNS}
    held = {key.split("_", 1)[1] for key in keys if key.split("_", 1)[0] in SPLITS}
    columns = []
    for name in metric_names([held]):
        info = METRICS.get(name)
        splits = (info.report_splits if info else ()) if short else SPLITS
        columns += [f"{split}_{name}" for split in splits if f"{split}_{name}" in keys]
    return columns


def columns_of(rows: list[dict[str, Any]], short: bool = False) -> list[str]:
    """The report's columns: the job, its metrics, then its cost."""
    return [*JOB_COLUMNS, *metric_columns(rows, short), *RUN_COLUMNS]


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of `collect`'s rows (the metrics `METRICS` marks for it)."""

    def cell(column: str, value: Any) -> str:
        return format_metric(column.split("_", 1)[-1], value)

    columns = columns_of(rows, short=True)
    table = [tuple(columns)] + [tuple(cell(c, row.get(c)) for c in columns) for row in rows]
    widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(columns))]
    return "\n".join(
        "  ".join(text[:60].ljust(width) for text, width in zip(r, widths, strict=True)).rstrip()
        for r in table
    )


def write_report(sweep_dir: str | Path, path: str | Path | None = None) -> tuple[str, Path]:
    """Collect the sweep, write its CSV (report.csv beside its jobs unless `path` says), return
    the table and the CSV path."""
    sweep_dir = Path(sweep_dir)
    rows = collect(sweep_dir)
    path = Path(path) if path else sweep_dir / "report.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns_of(rows), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return format_rows(rows), path


try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object


def write_ensemble(sweep_dir: str | Path) -> tuple[str, Path]:
    """The sweep's finished language models as one `EnsembleLM`: its train/val/test metrics.

    Each job contributes the checkpoint its metrics.json scores; the ensemble's training time
    is the sum of theirs. Written to ensemble.json beside the jobs.
    """
    from charlm.inference import evaluate_checkpoint
    from charlm.metrics import format_table

    sweep_dir = Path(sweep_dir)
    members, seconds = [], 0.0
    for row in collect(sweep_dir):
        if row["status"] != "ok":
            continue
        metrics = json.loads((sweep_dir / row["job"] / "metrics.json").read_text())
        members.append(metrics.get("best_checkpoint") or metrics["last_checkpoint"])
        seconds += metrics.get("train_time_s") or 0.0
    if len(members) < 2:
        raise ValueError(f"an ensemble needs two finished jobs under {sweep_dir}")
    results = evaluate_checkpoint(members)
    path = sweep_dir / "ensemble.json"
    summary = {"checkpoints": members, "train_time_s": round(seconds, 2), "results": results}
    path.write_text(json.dumps(summary, indent=2))
    table = format_table(results)
    return f"ensemble of {len(members)} models ({seconds:.0f} s of training in all):\n{table}", path


class ReportAtEnd(_HydraCallback):
    """Hydra callback: print and save the report when a multirun ends.

    With `report_ensemble: true` in the run config, also the ensemble of its models
    (`write_ensemble`).
    """

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        table, path = write_report(config.hydra.sweep.dir)
        print(table)
        print(f"sweep report written to {path}")
        if config.get("report_ensemble"):
            table, path = write_ensemble(config.hydra.sweep.dir)
            print(table)
            print(f"ensemble written to {path}")
