# %% [markdown]
# # Leçon 8 — Des tokens et des phrases (TP3)
#
# Le TP3 du cours quitte les caractères : un tokenizer BPE (Hugging Face `tokenizers`,
# normalisation NFD + minuscules, pré-découpage Metaspace, 15 000 tokens) découpe chaque ligne
# d'un texte juridique en tokens, et le MLP du cours (contexte 5, plongements de 10, 128 tanh)
# prédit le token suivant. Le texte du cours (le Code rural) n'est pas fourni ici : la recette
# tourne sur les lignes de `tinyshakespeare.txt`. Pour comparer tokens et caractères, charlm
# donne aussi la perte par caractère (`char_loss`) et les bits par caractère.

# %%
# %matplotlib inline
import os

import torch

import charlm
from charlm.course import racine, verifier_fusion

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Exercice : une fusion de BPE
#
# Un tokenizer BPE part des caractères et apprend, une à une, des fusions : la paire d'ids
# voisins la plus fréquente devient un nouveau token. Écrivez `fusionner(ids, paire, nouveau)`,
# qui renvoie une nouvelle liste où chaque occurrence de `paire`, lue de gauche à droite sans
# chevauchement, est remplacée par `nouveau` : `fusionner([1, 1, 1], (1, 1), 9)` vaut `[9, 1]`.


# %% tags=["exercice"]
def fusionner(ids, paire, nouveau):
    ### BEGIN SOLUTION
    sortie, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(paire):
            sortie.append(nouveau)
            i += 2
        else:
            sortie.append(ids[i])
            i += 1
    return sortie
    ### END SOLUTION


# %% tags=["exercice"]
verifier_fusion(fusionner)

# %% [markdown]
# ## Entraîner
#
# `experiment=tp3` : le tokenizer est appris sur les lignes d'entraînement, puis 200 000
# mises à jour SGD (lr 0,2 puis 0,02). Ici 20 000 (six minutes) ; la recette complète prend
# une heure.

# %%
if QUICK:
    args = [
        "trainer.max_steps=1000",
        "trainer.val_check_interval=500",
        "data.tokenizer.vocab_size=1000",
        "trainer.log_every_n_steps=50",
    ]
else:
    args = ["trainer.max_steps=20000", "trainer.val_check_interval=2000"]
run = charlm.fit("tp3", args, root=ROOT, quiet=True)

# %% [markdown]
# ## Le tokenizer
#
# Une ligne et ses tokens (`▁` marque le début d'un mot, Metaspace) :

# %%
vocab = run.model.vocab
line = "First Citizen: Before we proceed any further, hear me speak."
ids = vocab.encode(line)
print(len(vocab), "tokens dans le vocabulaire")
print([vocab.itos[i] for i in ids])
print("décodé :", vocab.decode(ids))

# %% [markdown]
# ## La courbe de perte (par token)

# %%
run.figure(title="TP3 : perte par token")

# %% [markdown]
# ## Des phrases
#
# Chaque phrase tirée s'arrête au token de fin de ligne.

# %%
for sentence in run.model.sample(5, generator=torch.Generator().manual_seed(0), max_len=60):
    print("-", sentence)

# %% [markdown]
# ## Le chiffre clé
#
# Par token, la perte dépend du vocabulaire ; par caractère, elle se compare à un modèle de
# caractères. charlm, 20 000 mises à jour : test 7,60 par token, 1,82 par caractère (200 000 :
# 6,98 et 1,67). La première perte de la recette, avec l'initialisation randn du cours : 45
# (le cours : 41,29).

# %%
test = run.metrics["test"]
print({k: round(v, 4) for k, v in test.items() if isinstance(v, float)})
assert test["char_loss"] < test["loss"]  # un token couvre plusieurs caractères
assert run.metrics["first_loss"] > 20  # l'initialisation randn du cours
assert test["loss"] < 0.75 * run.metrics["first_loss"]  # il a appris
assert QUICK or test["char_loss"] < 1.9, test
