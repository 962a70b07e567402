# %% [markdown]
# # Leçon 6 — Modèles de séquence et classement
#
# Le MLP ne voit que 3 caractères. Un réseau récurrent (GRU) lit tout le début du mot, un
# Transformer y fait attention ; tous deux prédisent chaque caractère d'un mot entier à la
# fois. Même découpage que le MLP, même mesure (NLL par caractère, fin de mot comprise).
#
# Le classement de charlm (test, 2 cœurs CPU, `docs/results.md`) :
#
# | modèle | test | temps |
# | --- | --- | --- |
# | GRU + Transformer (moyenne des probabilités, `lm_best`) | 1,468 | 582 s |
# | GRU 2 × 256 (`gru`) | 1,510 | 147 s |
# | MLP profond (`mlp_best`) | 1,539 | 444 s |
# | Transformer 4 × 128 (`transformer`) | 1,564 | 435 s |
# | GRU de makemore | 1,624 | 450 s |
# | MLP du notebook (`bengio2003`) | 1,938 | 52 s |

# %%
# %matplotlib inline
import os

import torch

import charlm
from charlm import EnsembleLM, load_words, split_words
from charlm.course import racine, verifier_sequences
from charlm.course.views import AttentionView, HiddenUnitsView, SamplerView
from charlm.figures import attention_figure, hidden_units_figure, loss_curves_figure
from charlm.inference import evaluate_words

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Exercice : un mot entier, une séquence
#
# Le MLP lisait une fenêtre par caractère ; un modèle de séquence lit le mot entier et prédit
# chaque position à la fois. Pour chaque mot, X est « . » puis ses caractères, Y ses
# caractères puis « . » : Y est X décalé d'un cran. Les mots d'un lot n'ont pas la même
# longueur : on complète X par 0 et Y par -1, que `F.cross_entropy(..., ignore_index=-1)`
# ne compte pas. Écrivez `sequences(mots, stoi)` qui renvoie X et Y, de forme
# (nombre de mots, longueur du plus long + 1).


# %% tags=["exercice"]
def sequences(mots, stoi):
    ### BEGIN SOLUTION
    largeur = max(len(m) for m in mots) + 1
    X = torch.zeros(len(mots), largeur, dtype=torch.long)
    Y = torch.full((len(mots), largeur), -1, dtype=torch.long)
    for i, mot in enumerate(mots):
        ids = [stoi[c] for c in mot]
        X[i, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.long)
        Y[i, : len(ids) + 1] = torch.tensor(ids + [0], dtype=torch.long)
    return X, Y
    ### END SOLUTION


# %% tags=["exercice"]
verifier_sequences(sequences, mots=load_words(ROOT / "data" / "civil_mots.txt")[:500])

# %% [markdown]
# ## Entraîner le GRU et le Transformer
#
# Les recettes du classement ; le Transformer est limité ici à 150 secondes
# (`time_budget_s=150`, au lieu de 435) pour que le notebook tienne en quelques minutes.

# %%
if QUICK:
    gru_args = [
        "trainer.max_steps=60",
        "trainer.val_check_interval=30",
        "model.net.num_layers=1",
        "model.net.hidden_size=64",
    ]
    transformer_args = [
        "trainer.max_steps=60",
        "trainer.val_check_interval=30",
        "model.net.num_layers=1",
        "model.net.emb_size=32",
    ]
else:
    gru_args, transformer_args = [], ["time_budget_s=150"]
gru = charlm.fit("gru", gru_args, root=ROOT, quiet=True)
transformer = charlm.fit("transformer", transformer_args, root=ROOT, quiet=True)

# %% [markdown]
# Les deux courbes de perte, lues dans les enregistrements de chaque run :

# %%
loss_curves_figure({"GRU": gru, "Transformer": transformer}, title="GRU et Transformer")

# %% [markdown]
# ## L'ensemble
#
# La moyenne de leurs probabilités (`EnsembleLM`) : jamais pire que la moyenne de leurs pertes
# (l'inégalité de Jensen), en général meilleure que chacun.

# %%
words = load_words(ROOT / "data" / "civil_mots.txt")
test_words = split_words(words)[2]
ensemble = EnsembleLM([gru.model, transformer.model]).eval()
scores = {
    "GRU": evaluate_words(gru.model, test_words)["loss"],
    "Transformer": evaluate_words(transformer.model, test_words)["loss"],
    "ensemble": evaluate_words(ensemble, test_words)["loss"],
}
for name, loss in scores.items():
    print(f"{name:>12}: test {loss:.4f}")

# %%
print(ensemble.sample(10, generator=torch.Generator().manual_seed(0)))

# %% [markdown]
# ## Regarder dedans
#
# Ce que l'attention du Transformer regarde dans un mot : une carte par tête et par couche,
# chaque ligne une position, chaque colonne une position qu'elle voit (jamais au-dessus de la
# diagonale : le modèle est causal).

# %%
attention_figure(transformer.model, "responsabilité", title="attention sur « responsabilité »")

# %% [markdown]
# Et le GRU : quatre de ses unités cachées le long du même mot, du bleu (−1) au rouge (+1).

# %%
hidden_units_figure(gru.model, "responsabilité", units=[0, 1, 2, 3], title="unités du GRU")

# %% [markdown]
# Les mêmes vues, interactives dans JupyterLab : bougez la température et le top-k, écrivez un
# début de mot, choisissez une couche et une tête, des unités.

# %%
SamplerView(ensemble, n=8)

# %%
AttentionView(transformer.model, "responsabilité")

# %%
HiddenUnitsView(gru.model, "responsabilité", units=[0, 1, 2, 3])

# %% [markdown]
# ## Le chiffre clé
#
# L'ensemble ne fait jamais pire que la moyenne de ses membres ; avec les recettes complètes,
# le GRU passe sous 1,55 (classement : 1,510).

# %%
assert abs(scores["GRU"] - gru.metrics["test"]["loss"]) < 1e-4  # la même mesure que le run
assert scores["ensemble"] <= (scores["GRU"] + scores["Transformer"]) / 2
if not QUICK:
    assert scores["GRU"] < 1.55, scores
