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
from pathlib import Path

import torch

import charlm
from charlm.figures import embedding_figure, next_char_figure

ROOT = Path(os.environ.get("CHARLM_ROOT", Path.cwd().parent))
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

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
