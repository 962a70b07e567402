# %% [markdown]
# # Leçon 7 — Initialisations, activations et normalisations
#
# La leçon du cours (`activations_final.ipynb`) reprend le MLP (plongements de 10, 200 tanh,
# contexte 3) et regarde dedans. Avec des poids tirés de N(0, 1), la première perte vaut ~30
# au lieu de -ln(1/41) = 3,71 (la « crosse de hockey ») et les tanh sont saturées : leurs
# gradients s'annulent. Corriger l'échelle de la couche de sortie, puis celle de la couche
# tanh, puis prendre l'initialisation de Kaiming règle les deux ; la BatchNorm aussi.

# %%
# %matplotlib inline
import math
import os

import torch
import torch.nn.functional as F

import charlm
from charlm import BengioMLP, Vocabulary, context_windows, load_words, split_words
from charlm.course import racine, verifier_kaiming
from charlm.diagnostics import Probe, diagnostics_figure
from charlm.figures import loss_curves_figure

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Dans le réseau, avant tout entraînement
#
# Un lot de 32 fenêtres, une passe avant et arrière, et les quatre panneaux de la leçon :
# activations par couche, leurs gradients, les gradients des poids, et le rapport mise à jour /
# poids (vide ici : aucune mise à jour encore).

# %%
words = load_words(ROOT / "data" / "civil_mots.txt")
vocab = Vocabulary.from_words(words)
x, y = context_windows(split_words(words)[0], vocab, 3)
batch = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:32]


def look_inside(init: str):
    torch.manual_seed(2147483647)
    net = BengioMLP(len(vocab), 3, emb_size=10, hidden_size=200, init=init)
    probe = Probe(net)
    probe.start(snapshot_weights=False)
    loss = F.cross_entropy(net(x[batch]), y[batch])
    loss.backward()
    return loss.item(), probe.finish()


first = {}
for init in ("randn", "kaiming"):
    first[init], snap = look_inside(init)
    title = f"init={init}: première perte {first[init]:.2f} (uniforme : {math.log(len(vocab)):.2f})"
    display(diagnostics_figure(snap, {}, title=title))  # noqa: F821 (IPython's display)

# %% [markdown]
# ### À vous : le gain de Kaiming
#
# `kaiming(fan_in, fan_out, generateur)` : une matrice (fan_in × fan_out) tirée de N(0, 1) avec
# le générateur, mise à l'échelle pour tanh : un écart-type de gain / √fan_in, le gain de tanh
# valant 5/3.


# %% tags=["exercice"]
def kaiming(fan_in, fan_out, generateur):
    ### BEGIN SOLUTION
    gain = 5 / 3
    return torch.randn(fan_in, fan_out, generator=generateur) * gain / fan_in**0.5
    ### END SOLUTION


# %% tags=["exercice"]
verifier_kaiming(kaiming)

# %% [markdown]
# Avec `randn`, l'histogramme des tanh s'entasse à -1 et +1 (la part saturée est dans la
# légende) ; avec Kaiming, les activations restent dans la partie utile de tanh.
#
# ## Entraîner les étapes de la leçon
#
# `+lesson_step=original` (randn) et `+lesson_step=kaiming` : la recette du cours, SGD lr 0,2
# puis 0,02, lots de 32. La leçon complète, cinq étapes et 200 000 mises à jour chacune, est
# `charlm-train experiment=activations_lesson` ; ici 30 000 mises à jour par étape.

# %%
steps = 1000 if QUICK else 30000
args = [
    f"trainer.max_steps={steps}",
    f"trainer.val_check_interval={steps // 4}",
    "trainer.log_every_n_steps=50",
]
runs = {
    step: charlm.fit(None, args + [f"+lesson_step={step}"], root=ROOT, quiet=True)
    for step in ("original", "kaiming")
}
for step, run in runs.items():
    print(
        f"{step:>9}: première perte {run.metrics['first_loss']:.2f}, "
        f"val {run.metrics['val']['loss']:.4f}"
    )

# %% [markdown]
# La crosse de hockey : la courbe de `randn` part de très haut, celle de Kaiming de 3,7.

# %%
loss_curves_figure(runs, title="crosse de hockey", log_x=True)

# %% [markdown]
# ## Le chiffre clé
#
# La leçon : première perte 30,49 avec randn, 3,73 une fois corrigée ; Kaiming fait mieux que
# l'initialisation d'origine en validation (charlm, 200 000 mises à jour : 1,670 contre 1,739).

# %%
uniform = math.log(len(vocab))
assert runs["original"].metrics["first_loss"] > 10
assert abs(runs["kaiming"].metrics["first_loss"] - uniform) < 0.1
assert runs["kaiming"].metrics["val"]["loss"] < runs["original"].metrics["val"]["loss"]
