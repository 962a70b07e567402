"""Every config file composes, and every object it names instantiates."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from omegaconf import OmegaConf, open_dict

from charlm.config import config_dir
from charlm.train import build_run

CONF = config_dir()
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GROUP_OPTIONS = [
    (group, p.stem)
    for group in ("data", "model", "trainer", "logger", "callbacks", "diagnostics")
    for p in sorted((CONF / group).glob("*.yaml"))
]


def _instantiate_run(cfg, corpus: Path):
    """The run charlm-train would build (`charlm.train.build_run`), nothing trained."""
    # data=text leaves its path to the user (???): a missing value is not "in" the config.
    if "path" in cfg.data or OmegaConf.is_missing(cfg.data, "path"):
        with open_dict(cfg):
            cfg.data.path = str(corpus)
    if cfg.data.get("kind") == "records":  # records of a CSV file, the words in a column
        records = corpus.with_suffix(".csv")
        records.write_text("id,name\n" + "".join(f"{i},{w}\n" for i, w in
                           enumerate(corpus.read_text().split())), encoding="utf-8")  # fmt: skip
        with open_dict(cfg):
            cfg.data.path, cfg.data.field = str(records), "name"
    run = build_run(cfg)
    assert isinstance(run.datamodule, L.LightningDataModule)
    assert isinstance(run.task, L.LightningModule)
    assert isinstance(run.trainer, L.Trainer)
    return run.datamodule, run.task, run.trainer


@pytest.mark.slow
def test_lm_best_sweeps_the_gru_and_transformer_recipes(make_cfg, tiny_corpus):
    lm_best = make_cfg("experiment=lm_best")
    assert lm_best.report_ensemble
    for member, target in (("gru", "RecurrentLM"), ("transformer", "TransformerLM")):
        cfg = make_cfg(f"+member={member}")
        assert cfg.model.net._target_ == f"charlm.models.{target}"
        assert cfg.trainer.max_steps == make_cfg(f"experiment={member}").trainer.max_steps
        _, task, _ = _instantiate_run(cfg, tiny_corpus)
        assert type(task.net).__name__ == target


def test_the_config_tree_is_found_from_any_directory(tmp_path):
    # The installed package finds its configs wherever it is started (not only in a checkout).
    found = subprocess.run(
        [sys.executable, "-c", "from charlm.config import config_dir; print(config_dir())"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert (Path(found) / "train.yaml").is_file()
    assert "bengio2003" in EXPERIMENTS


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(make_cfg, experiment, tiny_corpus):
    cfg = make_cfg(f"experiment={experiment}")
    if (cfg.data.get("block_size") or 0) > 64:  # instantiated on a text of a few hundred chars
        cfg.data.block_size = 64
    _instantiate_run(cfg, tiny_corpus)


# Options that only fit a matching data/model pair are composed with their partner.
PARTNERS = {
    ("model", "linear_classifier"): ["data=token", "callbacks=classifier"],
    ("model", "mlp_classifier"): ["data=token", "callbacks=classifier"],
    ("model", "sigmoid_classifier"): ["data=gates", "callbacks=classifier"],
    ("data", "token"): ["model=mlp_classifier", "callbacks=classifier"],
    ("data", "gates"): ["model=linear_classifier", "callbacks=classifier"],
    ("data", "fizzbuzz"): ["model=mlp_classifier", "callbacks=classifier"],
    ("callbacks", "classifier"): ["data=token", "model=mlp_classifier"],
}


# Presets that need hardware this machine lacks: composed and checked, not instantiated.
NEEDS_GPU = {("trainer", "gpu"), ("trainer", "mps")}


@pytest.mark.slow
@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes_and_instantiates(make_cfg, group, option, tiny_corpus):
    cfg = make_cfg(f"{group}={option}", *PARTNERS.get((group, option), []))
    if (group, option) in NEEDS_GPU:
        assert cfg.trainer.accelerator == option
        assert cfg.trainer.get("strategy", "auto") in {"auto", "ddp"}
        return
    _instantiate_run(cfg, tiny_corpus)


@pytest.mark.slow
def test_seed_zero_is_honoured(make_cfg, tiny_corpus):
    cfg = make_cfg("seed=0")
    assert cfg.seed == 0
    _, task, _ = _instantiate_run(cfg, tiny_corpus)
    again = make_cfg("seed=0")
    _, task2, _ = _instantiate_run(again, tiny_corpus)
    assert cfg.model.net.seed == 0
    for p, q in zip(task.net.parameters(), task2.net.parameters(), strict=True):
        assert p.equal(q)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("model=mlp_classifier",), r"MLPClassifier is a classifier .* use data=token"),
        (
            ("experiment=token_xor", "model=bengio_mlp"),
            r"BengioMLP is a language model .* use data=words",
        ),
    ],
)
def test_a_model_and_data_that_do_not_fit_are_refused_naming_the_data_to_use(
    make_cfg, tiny_corpus, overrides, message
):
    from charlm.errors import ConfigError
    from charlm.train import train

    words = () if "experiment=token_xor" in overrides else (f"data.path={tiny_corpus}",)
    cfg = make_cfg(*words, *overrides)
    with pytest.raises(ConfigError, match=message) as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not Path(cfg.paths.output_dir).exists()


@pytest.mark.parametrize(
    ("speedup", "precision"),
    # bfloat16 in hardware and faster (an AMD EPYC), in hardware and slower (an Intel Xeon
    # with AVX512-BF16 and no AMX), emulated.
    [(2.7, "bf16-mixed"), (0.53, "32-true"), (0.07, "32-true")],
)
def test_the_shakespeare_recipes_ask_for_bfloat16_only_on_a_cpu_where_it_is_faster(
    make_cfg, monkeypatch, tmp_path, speedup, precision
):
    import charlm.precision as policy

    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(policy, "measure_bf16_speedup", lambda *a, **k: speedup)
    for experiment in ("shakespeare_best", "shakespeare_nanogpt"):
        cfg = make_cfg(f"experiment={experiment}")
        assert cfg.trainer.precision == precision, experiment
