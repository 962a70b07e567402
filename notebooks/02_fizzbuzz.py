# %% [markdown]
# # Leçon 2 — Fizzbuzz appris par un réseau
#
# Le TD1 du cours apprend fizzbuzz : pour chaque nombre, afficher le nombre, « fizz » (multiple
# de 3), « buzz » (de 5) ou « fizzbuzz » (de 15). Le réseau ne voit que les 10 bits du nombre
# (`binary_encode`, bit de poids faible d'abord), s'entraîne sur 101..1023 et se teste sur
# 1..100, qu'il n'a jamais vus. Le TD1 : une couche cachée de 100, SGD lr 0,05 ; le notebook
# du cours atteint 0,75 de précision sur 1..100.

# %%
# %matplotlib inline
import os

import torch

import charlm
from charlm.course import racine, verifier_encodage, verifier_fizzbuzz
from charlm.data.tables import FIZZBUZZ_CLASSES, fizzbuzz_text
from charlm.figures import confusion_figure

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests
STEPS = ["trainer.max_steps=3000", "trainer.val_check_interval=1000"] if QUICK else []

# %% [markdown]
# ## À vous : les classes et l'encodage du TD1
#
# `classe(n)` : 0 pour le nombre lui-même, 1 pour fizz, 2 pour buzz, 3 pour fizzbuzz.
# `encoder_binaire(n, chiffres)` : les `chiffres` bits de n en flottants, le bit de poids faible
# d'abord (le `binary_encode` du TD1).


# %% tags=["exercice"]
def classe(n):
    ### BEGIN SOLUTION
    if n % 15 == 0:
        return 3
    if n % 5 == 0:
        return 2
    if n % 3 == 0:
        return 1
    return 0
    ### END SOLUTION


def encoder_binaire(n, chiffres):
    ### BEGIN SOLUTION
    return torch.tensor([n >> d & 1 for d in range(chiffres)], dtype=torch.float)
    ### END SOLUTION


# %% tags=["exercice"]
verifier_fizzbuzz(classe)

# %% tags=["exercice"]
verifier_encodage(encoder_binaire)

# %% [markdown]
# ## Le réseau du TD1
#
# `experiment=fizzbuzz_td1` : 10 bits -> 100 ReLU -> 4 classes, SGD lr 0,05, 10 000 mises à
# jour de 128 nombres.

# %%
td1 = charlm.fit("fizzbuzz_td1", STEPS, root=ROOT, quiet=True)

# %% [markdown]
# ## La recette de charlm
#
# `experiment=fizzbuzz` : une couche cachée de 1 024 et AdamW lr 3e-3. Même données, même
# nombre de mises à jour.

# %%
best = charlm.fit("fizzbuzz", STEPS, root=ROOT, quiet=True)

# %% [markdown]
# Ce que le réseau affiche pour 1..100 (en majuscules : ses erreurs) :

# %%
x, y = best.data.splits["test"]
numbers = best.data.numbers["test"]
labels = best.model.predict(x).labels
shown = [
    fizzbuzz_text(n, int(k)) if int(k) == int(t) else fizzbuzz_text(n, int(k)).upper()
    for n, k, t in zip(numbers, labels, y, strict=True)
]
print(" ".join(shown))

# %% [markdown]
# La matrice de confusion sur 1..100, pour les deux réseaux : lignes, la vraie classe ;
# colonnes, la prédite.

# %%
confusion_figure(
    td1.model.predict(x).labels,
    y,
    FIZZBUZZ_CLASSES,
    title="TD1 : " + (f"{td1.metrics['test']['acc']:.2f} de précision"),
)

# %%
confusion_figure(
    labels,
    y,
    FIZZBUZZ_CLASSES,
    title="charlm : " + (f"{best.metrics['test']['acc']:.2f} de précision"),
)

# %% [markdown]
# ## Le chiffre clé
#
# Le notebook du TD1 : 0,75 sur 1..100. Ici, le même réseau fait au moins aussi bien, et la
# recette de charlm fait mieux (0,99 à 1,00 selon la graine, sur 10 000 mises à jour).

# %%
acc_td1, acc_best = td1.metrics["test"]["acc"], best.metrics["test"]["acc"]
print(f"TD1 : {acc_td1:.2f}   charlm : {acc_best:.2f}   (cours : 0.75)")
assert acc_best > acc_td1
assert acc_best >= (0.9 if QUICK else 0.98)
