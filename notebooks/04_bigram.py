# %% [markdown]
# # Leçon 4 — Le bigramme : compter, puis apprendre
#
# Sur les 7 223 mots du Code civil (`civil_mots.txt`, 41 symboles avec `.` pour début et fin
# de mot), le cours compte d'abord les paires de caractères : la matrice N, 41 × 41. Normalisée
# par ligne, elle donne P(suivant | précédent), et tirer des mots avec ces probabilités fait un
# premier modèle de langue. Puis un réseau d'une seule couche (one-hot × W, softmax) apprend la
# même chose par descente de gradient. Le cours : perte 2,38 pour le réseau, 2,34 au comptage.

# %%
# %matplotlib inline
import os

import torch
import torch.nn.functional as F

import charlm
from charlm import BigramCounts, Vocabulary, context_windows, evaluate_lm, load_words
from charlm.course import (
    racine,
    verifier_bigramme,
    verifier_echantillonneur,
    verifier_nll,
    verifier_normalisation,
    verifier_softmax,
)
from charlm.data.batches import TensorSlices
from charlm.figures import bigram_figure, next_char_figure

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Compter

# %%
words = load_words(ROOT / "data" / "civil_mots.txt")
vocab = Vocabulary.from_words(words)
counts = BigramCounts.from_words(words, vocab, alpha=0)
print(len(words), "mots,", len(vocab), "symboles :", "".join(vocab.itos))

# %% [markdown]
# La matrice N du cours : dans chaque case, la paire et son nombre d'occurrences.

# %%
bigram_figure(counts, title="N : les bigrammes de civil_mots.txt")

# %% [markdown]
# La perte du comptage (NLL moyenne par caractère, fin de mot comprise) est le minimum
# qu'un bigramme puisse atteindre sur ces mots :

# %%
x, y = context_windows(words, vocab, 1)
optimum = evaluate_lm(counts, TensorSlices(x, y, batch_size=len(y)))["loss"]
print(f"comptage : {optimum:.4f}")

# %% [markdown]
# ## À vous : compter, normaliser
#
# `compter_bigrammes(mots, stoi)` : la matrice N (V × V, des entiers) où N[i, j] compte les
# fois où le caractère d'id j suit celui d'id i, chaque mot encadré de « . ».
# `normaliser(N)` : P, chaque ligne de N divisée par sa somme. La vérification compte aussi
# les mots du Code civil avec votre fonction et donne la perte qu'atteint votre comptage.


# %% tags=["exercice"]
def compter_bigrammes(mots, stoi):
    ### BEGIN SOLUTION
    N = torch.zeros((len(stoi), len(stoi)), dtype=torch.int32)
    for mot in mots:
        chs = ["."] + list(mot) + ["."]
        for a, b in zip(chs, chs[1:], strict=False):
            N[stoi[a], stoi[b]] += 1
    return N
    ### END SOLUTION


def normaliser(N):
    ### BEGIN SOLUTION
    N = N.float()
    return N / N.sum(1, keepdim=True)
    ### END SOLUTION


# %% tags=["exercice"]
verifier_bigramme(compter_bigrammes, mots=load_words(ROOT / "data" / "civil_mots.txt"))

# %% tags=["exercice"]
verifier_normalisation(normaliser)

# %% [markdown]
# ## Apprendre : le bigramme neuronal
#
# `experiment=bigram` : la recette du notebook, descente de gradient sur tous les mots, lr 50,
# 600 pas, pénalité 0,01 · mean(W²). `bigram_converged` : la même sans pénalité, 1 000 pas.

# %%
notebook = charlm.fit("bigram", (["trainer.max_steps=100"] if QUICK else []), root=ROOT, quiet=True)
converged = charlm.fit(
    "bigram_converged",
    (["model/optimizer=adam", "model.optimizer.lr=0.3", "trainer.max_steps=100"] if QUICK else []),
    root=ROOT,
    quiet=True,
)

# %% [markdown]
# ### À vous : le bigramme neuronal
#
# `probabilites(xs, W)` : pour des ids `xs` (n,) et des poids W (V × V), les probabilités
# (n × V) du réseau, softmax(one_hot(xs) × W). `nll(probs, ys)` : la perte, la moyenne de
# −log probs[i, ys[i]].


# %% tags=["exercice"]
def probabilites(xs, W):
    ### BEGIN SOLUTION
    logits = F.one_hot(xs, num_classes=W.shape[0]).float() @ W
    counts = logits.exp()
    return counts / counts.sum(1, keepdim=True)
    ### END SOLUTION


def nll(probs, ys):
    ### BEGIN SOLUTION
    return -probs[torch.arange(len(ys)), ys].log().mean()
    ### END SOLUTION


# %% tags=["exercice"]
verifier_softmax(probabilites)

# %% tags=["exercice"]
verifier_nll(nll)

# %% [markdown]
# Ce que le réseau a appris se lit ligne par ligne, comme N : après « q », presque toujours
# « u », pour le comptage comme pour le réseau.

# %%
next_char_figure(counts, "q", top=8)

# %%
next_char_figure(converged.model, "q", top=8)

# %% [markdown]
# ## Mêmes mots que le comptage
#
# Avec le même générateur, le réseau convergé tire les mêmes mots que le comptage : ses
# probabilités sont les mêmes.

# %%
seed = 2147483647
by_counts = counts.sample(10, generator=torch.Generator().manual_seed(seed))
by_network = converged.model.sample(10, generator=torch.Generator().manual_seed(seed))
for a, b in zip(by_counts, by_network, strict=True):
    print(f"{a:>16}  {b:<16} {'=' if a == b else '≠'}")

# %% [markdown]
# ### À vous : tirer un mot
#
# `echantillonner(P, itos, generateur)` : partir de « . » (id 0), tirer l'id suivant dans la
# ligne P[ix] avec `torch.multinomial` et le générateur, jusqu'au « . » de fin ; renvoyer le
# mot (sans le « . »). Le même générateur doit redonner le même mot.


# %% tags=["exercice"]
def echantillonner(P, itos, generateur):
    ### BEGIN SOLUTION
    mot, ix = [], 0
    while True:
        ix = torch.multinomial(P[ix], num_samples=1, replacement=True, generator=generateur)
        ix = ix.item()
        if ix == 0:
            return "".join(mot)
        mot.append(itos[ix])
    ### END SOLUTION


# %% tags=["exercice"]
verifier_echantillonneur(echantillonner)

# %% [markdown]
# ## Le chiffre clé
#
# Le cours : 2,38 (réseau) contre 2,34 (comptage). Ici le réseau de la recette du notebook
# reste un peu au-dessus du comptage (sa pénalité l'en tient éloigné), et sans pénalité il
# arrive à moins de 0,01 de l'optimum.

# %%
loss_notebook = notebook.metrics["train"]["loss"]
loss_converged = converged.metrics["train"]["loss"]
print(f"comptage {optimum:.4f}  notebook {loss_notebook:.4f}  convergé {loss_converged:.4f}")
assert abs(loss_converged - optimum) < 0.01
assert loss_notebook < (2.45 if QUICK else 2.40)
matches = sum(a == b for a, b in zip(by_counts, by_network, strict=True))
assert matches >= 8, matches
