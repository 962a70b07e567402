"""Interactive views of a trained model for JupyterLab (ipywidgets).

Each view holds its widgets and one `update()` that recomputes what it shows from their values
and redraws; moving a widget calls it. The figures are `charlm.figures`' own functions, so a
script or a test gets the same picture without a browser:

    SamplerView(model)              temperature, top-k and prefix -> samples and P(next char)
    AttentionView(transformer, s)   a passage -> every head's attention (layers x heads)
    HiddenUnitsView(rnn, s, units)  a passage -> chosen hidden units along it
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from charlm.errors import CharlmError
from charlm.figures import (
    attention_figure,
    attention_maps,
    hidden_activations,
    hidden_units_figure,
    probabilities_figure,
)


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError as err:
        raise CharlmError(
            f"the interactive views need ipywidgets ({err}): pip install 'charlm[notebook]'"
        ) from None
    return ipywidgets


class _View:
    """Widgets in a box, an Output for the figure, and `update()` on every change."""

    def __init__(self, controls: list[Any]) -> None:
        w = _widgets()
        self.output = w.Output()
        self.message = w.HTML()
        self.box = w.VBox([w.HBox(controls), self.message, self.output])
        self.figure: Any = None
        for control in controls:
            control.style.description_width = "initial"  # "température" in full
            control.observe(lambda _change: self.update(), names="value")

    def _show(self, figure: Any) -> None:
        from IPython.display import display

        self.figure = figure
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def next_char_distribution(
    model: Any, prefix: str = "", temperature: float = 1.0, top_k: int | None = None
) -> dict[str, float]:
    """P(next character | prefix) as sampling at `temperature` among the `top_k` likeliest
    draws it: a word model from the word's start, a model of running text after `prefix`."""
    from charlm.models.sampling import sampling_probs

    vocab = model.require_vocab()
    if vocab.boundary is None:
        if not prefix:
            raise ValueError("prefix='': a model of running text needs a character to start from")
        vocab.check(prefix, "prefix")
        with torch.no_grad():
            logits, _ = model.text_start(
                torch.tensor([vocab.encode(prefix)], device=model._device())
            )
    else:
        # Through the probabilities, not the logits: an ensemble averages probabilities, so
        # their log is the only logits every word model (EnsembleLM included) can give.
        probs = model.next_char_probs(prefix)
        logits = torch.tensor([[probs[c] for c in vocab.itos]]).log()
    shaped = sampling_probs(logits, temperature, top_k, len(vocab), model)[0]
    return {c: float(p) for c, p in zip(vocab.itos, shaped, strict=True)}


class SamplerView(_View):
    """Sliders for temperature and top-k, a prefix box and a seed: the samples and the
    next-character probabilities after the prefix, redrawn as they move. The same seed and
    settings give the same samples."""

    def __init__(self, model: Any, n: int = 8, seed: int = 0, length: int = 200) -> None:
        _language_model(model, "SamplerView")
        w = _widgets()
        self.model, self.n, self.length = model, n, length
        self.vocab = model.require_vocab()
        text = self.vocab.boundary is None
        self.temperature = w.FloatSlider(
            value=1.0, min=0.1, max=2.0, step=0.05, description="température"
        )
        self.top_k = w.IntSlider(
            value=len(self.vocab), min=1, max=len(self.vocab), description="top-k"
        )
        self.prefix = w.Text(
            value="\n" if text and "\n" in self.vocab.itos else "", description="début"
        )
        self.seed = w.IntText(value=seed, description="graine")
        super().__init__([self.temperature, self.top_k, self.prefix, self.seed])
        self.samples: list[str] = []
        self.probs: dict[str, float] = {}
        self.update()

    def update(self) -> None:
        temperature, prefix = self.temperature.value, self.prefix.value
        top_k = None if self.top_k.value >= len(self.vocab) else self.top_k.value
        generator = torch.Generator().manual_seed(int(self.seed.value))
        try:
            if self.vocab.boundary is None:
                self.samples = self.model.sample_text(
                    prefix, self.length, self.n, generator, temperature, top_k
                )
            else:
                self.samples = self.model.sample(self.n, generator, temperature, top_k, prefix)
            self.probs = next_char_distribution(self.model, prefix, temperature, top_k)
        except (ValueError, CharlmError) as err:  # a prefix with unknown characters, say
            self.message.value = f"<b>{_escape(str(err))}</b>"
            return
        self.message.value = "<pre>" + _escape("\n".join(self.samples)) + "</pre>"
        title = f"P(caractère suivant | {prefix!r}), T = {temperature:g}, top-k = {top_k or 'tous'}"
        fig = probabilities_figure(self.probs, top=20, title=title)
        self._show(fig)


class AttentionView(_View):
    """A passage box, a layer and a head (or all): the attention over it of a Transformer,
    or of a recurrent model's attention layer."""

    def __init__(self, model: Any, text: str) -> None:
        _language_model(model, "AttentionView")
        # The layers and heads from the maps of one character: a model with no attention is
        # told here, a passage it cannot read later, in the view.
        probe = model.require_vocab().chars[0]
        layers, heads = attention_maps(model, probe)[0].shape[:2]
        w = _widgets()
        self.model = model
        self.text = w.Text(value=text, description="passage")
        self.layer = w.Dropdown(
            options=[("toutes", -1)] + [(str(i), i) for i in range(layers)],
            value=-1,
            description="couche",
        )
        self.head = w.Dropdown(
            options=[("toutes", -1)] + [(str(i), i) for i in range(heads)],
            value=-1,
            description="tête",
        )
        super().__init__([self.text, self.layer, self.head])
        self.update()

    def update(self) -> None:
        layers = None if self.layer.value < 0 else [self.layer.value]
        heads = None if self.head.value < 0 else [self.head.value]
        try:
            figure = attention_figure(self.model, self.text.value, layers, heads)
        except (ValueError, CharlmError) as err:
            self.message.value = f"<b>{_escape(str(err))}</b>"
            return
        self.message.value = ""
        self._show(figure)


class HiddenUnitsView(_View):
    """A passage box and unit numbers: those hidden units of a recurrent model along it."""

    def __init__(self, model: Any, text: str, units: Sequence[int] = (0, 1, 2, 3)) -> None:
        _language_model(model, "HiddenUnitsView")
        hidden_activations(model, model.require_vocab().chars[0])  # no hidden units: told here
        w = _widgets()
        self.model = model
        self.text = w.Text(value=text, description="passage")
        self.units = w.Text(value=", ".join(str(u) for u in units), description="unités")
        super().__init__([self.text, self.units])
        self.update()

    def update(self) -> None:
        try:
            units = [int(u) for u in self.units.value.replace(",", " ").split()]
            figure = hidden_units_figure(self.model, self.text.value, units)
        except (ValueError, CharlmError) as err:
            self.message.value = f"<b>{_escape(str(err))}</b>"
            return
        self.message.value = ""
        self._show(figure)


def _language_model(model: Any, view: str) -> None:
    """Refuse, in one line, a model that is not a language model (a classifier, a tensor)."""
    if not hasattr(model, "require_vocab"):
        raise ValueError(
            f"{view}: {type(model).__name__} is not a language model of words or text; give "
            "one, e.g. charlm.load_model('RUN/checkpoints/last.ckpt')"
        )


def _escape(text: str) -> str:
    import html

    return html.escape(text)
