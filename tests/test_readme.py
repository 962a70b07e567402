"""README.md and docs/: what they name exists, their commands compose, the first-minute tour runs."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from commands import run_python
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from charlm.config import config_dir, register_resolvers

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
BIN = Path(sys.executable).parent
# The console scripts of pyproject.toml's [project.scripts] table.
SCRIPTS = re.findall(
    r"^(charlm-[a-z]+) = ",
    (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1],
    re.M,
)
# The config each command composes.
COMMAND_CONFIGS = {
    "charlm-train": "train", "charlm-sample": "sample", "charlm-eval": "eval",
    "charlm-score": "score", "charlm-inspect": "inspect",
}  # fmt: skip


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of `text` whose info string is `language` ('' for none)."""
    found, info, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, lines = line[3:].strip(), []
            else:
                if info == language:
                    found.append("\n".join(lines) + "\n")
                info = None
        elif info is not None:
            lines.append(line)
    return found


def command_lines(text: str) -> list[list[str]]:
    """Each command of the bash blocks, split as the shell would, comments dropped."""
    lines = [line for block in blocks(text, "bash") for line in block.splitlines()]
    # Placeholders such as <run> stand for a path: any path composes the same.
    lines = [re.sub(r"<[^>]+>", "x", line) for line in lines]
    commands = [shlex.split(line, comments=True) for line in lines if line.strip()]
    return [launched(words) for words in commands if words]


def launched(words: list[str]) -> list[str]:
    """The command a launcher starts (`torchrun --nproc_per_node=2 charlm-train ...`), else
    `words` as they are."""
    if Path(words[0]).name in ("torchrun", "srun"):
        for i, word in enumerate(words):
            if Path(word).name.startswith("charlm-"):
                return words[i:]
    return words


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_is_short_and_points_to_docs_for_the_rest():
    assert len(README.read_text().splitlines()) <= 250
    names = {p.name for p in DOCS}
    assert {
        "guide.md",
        "results.md",
        "performance.md",
        "troubleshooting.md",
        "extending.md",
    } <= names


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_and_anchor_leads_somewhere(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", linked.read_text(), re.M)
            assert anchor in {slug(h) for h in headings}, f"{page.name}: no heading #{anchor}"


def test_every_file_make_target_and_command_the_readme_names_exists():
    text = README.read_text()
    for path in re.findall(r"`((?:src|conf|docs|tests|bench)/[^`<>*\s]*)`", text):
        assert (ROOT / path).exists(), path
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    for target in re.findall(r"\bmake ([a-z-]+)", text):
        assert target in targets, f"make {target}"
    for command in set(re.findall(r"\bcharlm-[a-z]+", text)):
        assert command in SCRIPTS, command


def test_every_config_name_the_readme_gives_exists():
    text = README.read_text()
    conf = config_dir()
    for group, names in re.findall(
        r"\b(experiment|model|data|trainer|hparams_search)=([a-z0-9_,]+)", text
    ):
        for name in names.split(","):
            assert (conf / group / f"{name}.yaml").is_file(), f"{group}={name}"
    # Groups that plugins provide too (hydra/launcher=joblib): composed, not looked up.
    register_resolvers()
    pattern = r"\b(hydra/launcher|model/optimizer|model/scheduler)=(\w+)"
    for group, name in re.findall(pattern, text):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            compose("train", overrides=[f"{group}={name}"], return_hydra_config=True)
    GlobalHydra.instance().clear()


def test_every_python_name_the_readme_gives_resolves():
    import importlib

    text = README.read_text()
    for dotted in set(re.findall(r"`(charlm(?:\.\w+)+)", text)):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
            break
    # Class names given bare (`EnsembleLM`, `LanguageData`) are charlm's, in one of its packages.
    import charlm.data
    import charlm.lit
    import charlm.models

    packages = (charlm, charlm.data, charlm.models, charlm.lit)
    for name in set(re.findall(r"`([A-Z][a-z]+[A-Z][A-Za-z]*)`", text)):
        assert any(hasattr(package, name) for package in packages), name


@pytest.mark.slow
@pytest.mark.parametrize("page", [README, ROOT / "docs" / "guide.md"], ids=lambda p: p.name)
def test_every_command_line_composes(page, tmp_path):
    """Each charlm command of the page, its overrides composed as Hydra would (nothing run)."""
    register_resolvers()
    checked = 0
    for words in command_lines(page.read_text()):
        command = Path(words[0]).name
        if command not in COMMAND_CONFIGS:
            continue
        overrides = [w for w in words[1:] if w not in ("-m", "--multirun") and "[" not in w[:1]]
        if "--cfg" in overrides:
            overrides = overrides[: overrides.index("--cfg")]
        # A sweep's comma-separated values: every combination, as Hydra's grid runs them.
        sweeps = [o for o in overrides if "," in o and "=" in o and "[" not in o]
        fixed = [o for o in overrides if o not in sweeps]
        choices = [
            [f"{key}={v}" for v in values.split(",")]
            for key, values in (o.split("=", 1) for o in sweeps)
        ]
        variants = [[*fixed, *combo] for combo in itertools.product(*choices)]
        for variant in variants:
            GlobalHydra.instance().clear()
            with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
                compose(config_name=COMMAND_CONFIGS[command], overrides=variant)
            checked += 1
    GlobalHydra.instance().clear()
    assert checked >= 5


@pytest.mark.slow
@pytest.mark.corpus
def test_the_first_minute_tour_runs_as_written(corpus, tmp_path):
    """The README's tour in a directory of its own: its commands, then its Python block."""
    (tmp_path / "data").symlink_to(corpus.parent, target_is_directory=True)
    text = README.read_text()
    tour = blocks(text.split("## Your first minute", 1)[1], "bash")[0]
    env = {**os.environ, "CHARLM_ROOT": str(tmp_path)}
    outputs = []
    for line in tour.splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "make":  # set-up and the TensorBoard server: checked below instead
            continue
        words[0] = str(BIN / Path(words[0]).name)
        done = subprocess.run(
            words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    shown = blocks(text.split("## Your first minute", 1)[1], "")[0]
    sampled, evaluated = outputs[1].splitlines(), outputs[2].splitlines()
    assert len(sampled) == 6 and sampled[-1].startswith("novelty of 5 samples")
    assert all(line.split()[-1] in ("train", "held-out", "new") for line in sampled[:-1])
    # The evaluation the README shows, to within what another CPU's rounding could move.
    expected = [line.split() for line in shown.splitlines() if line.startswith(("train ", "val "))]
    got = [line.split() for line in evaluated if line.startswith(("train ", "val "))]
    assert [row[0] for row in got] == [row[0] for row in expected]
    for row, want in zip(got, expected, strict=True):
        assert [float(v) for v in row[1:5]] == pytest.approx(
            [float(v) for v in want[1:5]], abs=0.02
        )

    # TensorBoard finds the run's scalars, its sampled words and its embeddings.
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    events = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "logs")).Reload()
    tags = events.Runs()["tour/tensorboard"]
    assert {"train/loss", "val/loss", "test/loss"} <= set(tags["scalars"])
    assert (tmp_path / "logs" / "tour" / "tensorboard" / "projector_config.pbtxt").is_file()

    # The Python block after it, without Lightning or Hydra.
    code = blocks(text.split("## Your first minute", 1)[1], "python")[0]
    check = "\nimport sys; print([m for m in ('lightning', 'hydra') if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code + check], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    words, scores, prob, loaded = done.stdout.splitlines()
    assert loaded == "[]"
    assert all(w.startswith("ju") for w in eval(words))
    nll, per_char = eval(scores)
    assert per_char == pytest.approx(nll / len("article."))


@pytest.mark.slow
@pytest.mark.corpus
def test_the_guides_python_examples_that_need_no_trained_run_run(corpus):
    examples = blocks((ROOT / "docs" / "guide.md").read_text(), "python")
    runnable = [c for c in examples if "logs/" not in c]
    assert len(runnable) >= 2
    for code in runnable:
        done = run_python(code, cwd=ROOT)
        assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"
