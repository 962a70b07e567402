# %% [markdown]
# # Leçon 1 — Prédire un token, et le problème du XOR
#
# Le premier notebook du cours (« réseau de neurones pour prédiction de token ») apprend à un
# réseau à prédire un token à partir de deux nombres :
#
# | entrée | token |
# | --- | --- |
# | [2, 2] | 0 |
# | [2, 3] | 1 |
# | [3, 2] | 1 |
# | [3, 3] | 0 |
#
# C'est un XOR déguisé : aucune droite ne sépare les 1 des 0. Un modèle linéaire
# (`nn.Linear(2, 2)`) plafonne donc à 3 bonnes réponses sur 4, et une couche cachée suffit à
# tout apprendre. charlm entraîne les deux avec `charlm.fit`, en un appel chacun.

# %%
# %matplotlib inline
import os

import torch.nn.functional as F

import charlm
from charlm.course import racine, verifier_predicteur
from charlm.figures import decision_boundary_figure

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Le modèle linéaire
#
# `experiment=token_linear` : une couche `Linear(2, 2)`, SGD, 1 000 mises à jour.

# %%
linear = charlm.fit("token_linear", root=ROOT, quiet=True)
linear.metrics["test"]

# %% [markdown]
# Sa frontière de décision est une droite : P(token 1) au-dessus du plan des entrées, avec les
# quatre points de la table (rouge : token 1, bleu : token 0). Le cours fait le même constat :
# le modèle linéaire ne peut pas séparer les deux diagonales.

# %%
x, y = linear.data.splits["train"]
decision_boundary_figure(linear.model, x, y, title="modèle linéaire : une droite")

# %% [markdown]
# ## Une couche cachée
#
# `experiment=token_xor` : 6 ReLU cachées. Les entrées sont centrées (±1) et les biais cachés
# partent de 0,5 pour qu'aucune ReLU ne naisse morte ; 200 mises à jour suffisent.

# %%
hidden = charlm.fit("token_xor", root=ROOT, quiet=True)
decision_boundary_figure(hidden.model, x, y, title="une couche cachée : deux frontières")

# %% [markdown]
# Les prédictions du réseau, comme la fonction `predict` du cours :

# %%
prediction = hidden.model.predict(x)
for row, probs, token in zip(
    x.tolist(), prediction.probs.tolist(), prediction.labels.tolist(), strict=True
):
    print(row, "->", token, f"(P = {max(probs):.3f})")

# %% [markdown]
# ## À vous : prédire un token
#
# Écrivez `predire(logits)` en PyTorch : pour des logits (un exemple par ligne, un score par
# token), les probabilités de chaque ligne (un softmax sur la bonne dimension) et le token le
# plus probable de chaque ligne. Puis exécutez la vérification.


# %% tags=["exercice"]
def predire(logits):
    ### BEGIN SOLUTION
    probs = F.softmax(logits, dim=1)
    return probs, probs.argmax(dim=1)
    ### END SOLUTION


# %% tags=["exercice"]
verifier_predicteur(predire)

# %% [markdown]
# ## Le chiffre clé
#
# Le linéaire : au mieux 3 sur 4 (précision 0,75, perte ln 2 = 0,693 : il répond au hasard) ;
# la couche cachée : 4 sur 4.

# %%
assert linear.metrics["test"]["acc"] <= 0.75, linear.metrics
assert hidden.metrics["test"]["acc"] == 1.0, hidden.metrics
print("linéaire :", linear.metrics["test"], "\ncouche cachée :", hidden.metrics["test"])
