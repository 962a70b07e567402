# %% [markdown]
# # Leçon 5 — Le MLP de Bengio et al. (2003)
#
# Le modèle du cours : chaque caractère a un plongement de dimension 2 (la table C, 41 × 2),
# les plongements des 3 caractères précédents sont concaténés, passent par une couche tanh de
# 100 neurones, puis un softmax sur les 41 symboles. Découpage 80/10/10 des mots après
# `random.seed(42)` ; le notebook obtient 1,858 / 1,910 / 1,949 (train / val / test).

# %%
# %matplotlib inline
import os

import torch
import torch.nn.functional as F

import charlm
from charlm import load_words
from charlm.course import (
    racine,
    verifier_entrainement,
    verifier_fenetres,
    verifier_mlp,
    verifier_perte,
    verifier_taux,
)
from charlm.figures import embedding_figure, next_char_figure

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## À vous : le MLP à la main
#
# Les pièces du notebook du cours, en PyTorch seul, chacune vérifiée sur des entrées à elle :
#
# - `fenetres(mots, stoi, k)` : X (n × k) et Y (n) ; chaque mot commence par k « . » et finit
#   par une fenêtre qui prédit « . » ;
# - `avant(X, C, W1, b1, W2, b2)` : les logits, tanh(C[X] mis à plat @ W1 + b1) @ W2 + b2 ;
# - `perte(logits, Y)` : la NLL moyenne ;
# - `taux(etape, etapes)` : 0,1, puis 0,01 à partir de la moitié des étapes ;
# - `entrainer(parametres, X, Y, etapes, generateur)` : des lots de 32 tirés avec le générateur,
#   une descente de gradient par lot au pas `taux`, la liste des pertes.


# %% tags=["exercice"]
def fenetres(mots, stoi, k):
    ### BEGIN SOLUTION
    X, Y = [], []
    for mot in mots:
        contexte = [0] * k
        for ch in mot + ".":
            X.append(contexte)
            Y.append(stoi[ch])
            contexte = contexte[1:] + [stoi[ch]]
    return torch.tensor(X), torch.tensor(Y)
    ### END SOLUTION


def avant(X, C, W1, b1, W2, b2):
    ### BEGIN SOLUTION
    emb = C[X]  # (n, k, d)
    h = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1)  # (n, k * d) -> (n, hidden)
    return h @ W2 + b2
    ### END SOLUTION


def perte(logits, Y):
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, Y)
    ### END SOLUTION


def taux(etape, etapes):
    ### BEGIN SOLUTION
    return 0.1 if etape < etapes // 2 else 0.01
    ### END SOLUTION


def entrainer(parametres, X, Y, etapes, generateur):
    ### BEGIN SOLUTION
    pertes = []
    for etape in range(etapes):
        ix = torch.randint(0, X.shape[0], (32,), generator=generateur)
        loss = perte(avant(X[ix], *parametres), Y[ix])
        for p in parametres:
            p.grad = None
        loss.backward()
        for p in parametres:
            p.data += -taux(etape, etapes) * p.grad
        pertes.append(loss.item())
    return pertes
    ### END SOLUTION


# %% tags=["exercice"]
verifier_fenetres(fenetres, mots=load_words(ROOT / "data" / "civil_mots.txt"))

# %% tags=["exercice"]
verifier_mlp(avant)

# %% tags=["exercice"]
verifier_perte(perte)

# %% tags=["exercice"]
verifier_taux(taux)

# %% tags=["exercice"]
verifier_entrainement(entrainer)

# %% [markdown]
# ## Entraîner
#
# `experiment=bengio2003` : la recette du notebook, 200 000 mises à jour de 32 fenêtres, lr 0,1
# puis 0,01 (une minute sur 2 cœurs).

# %%
steps = ["trainer.max_steps=10000", "trainer.val_check_interval=2500"] if QUICK else []
run = charlm.fit("bengio2003", steps, root=ROOT, quiet=True)

# %% [markdown]
# ## La courbe de perte
#
# Lue dans les enregistrements TensorBoard du run (`run.curves()`), train et validation en
# fonction des mises à jour ; la baisse du pas d'apprentissage se voit en marche d'escalier.

# %%
run.figure(title="bengio2003")

# %% [markdown]
# ## Les plongements
#
# La table C en deux dimensions, comme le cours la dessine : les voyelles se regroupent, le
# `.` de fin de mot s'isole.

# %%
embedding_figure(run.model, title="plongements C (2-D)")

# %% [markdown]
# ## Échantillons et prochaine lettre

# %%
print(run.model.sample(10, generator=torch.Generator().manual_seed(2147483647)))

# %%
next_char_figure(run.model, "arti", top=12)

# %% [markdown]
# ## Le chiffre clé
#
# Le notebook : test 1,949 ; charlm, même découpage, même recette : 1,938. Avec les réglages
# courts des tests (10 000 mises à jour), le MLP doit au moins battre le meilleur bigramme
# (2,344, le comptage de la leçon 4).

# %%
test = run.metrics["test"]["loss"]
print({split: round(run.metrics[split]["loss"], 4) for split in ("train", "val", "test")})
assert test < (2.344 if QUICK else 1.96), test
