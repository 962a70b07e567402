# %% [markdown]
# # Leçon 3 — Perceptrons, portes logiques et XOR
#
# Un perceptron calcule `1 si w0 + w1 x1 + w2 x2 > 0, sinon 0`. Avec les bons poids, il fait
# ET, OU, NON ; aucun poids ne lui fait faire XOR, car XOR n'est pas linéairement séparable.
# Le cours combine des perceptrons (XOR = ET(OU(a, b), NON(ET(a, b)))), puis entraîne un
# réseau 2-2-1 à sigmoïdes qui apprend XOR seul.

# %%
# %matplotlib inline
import os

import torch

import charlm
from charlm.course import racine, verifier_portes, verifier_xor
from charlm.data.tables import gate_table
from charlm.figures import decision_boundary_figure
from charlm.models import Perceptron, XORNetwork

# La racine du dépôt (data/, logs/) : $CHARLM_ROOT, ou le premier dossier au-dessus qui a data/.
ROOT = racine()
QUICK = os.environ.get("CHARLM_QUICK") == "1"  # réglages courts de la suite de tests

# %% [markdown]
# ## Les perceptrons du cours, poids à la main

# %%
AND = Perceptron([-0.6, 0.5, 0.5])
OR = Perceptron([-0.5, 1, 1])
xor = XORNetwork()
x, _ = gate_table("and")
print("a b | ET OU XOR")
for row in x:
    a, b = row.int().tolist()
    one = row.unsqueeze(0)
    print(a, b, "|", int(AND(one)), " ", int(OR(one)), " ", int(xor(one)))

# %% [markdown]
# La frontière du perceptron ET : une droite, 1 seulement au coin (1, 1).

# %%
decision_boundary_figure(AND, *gate_table("and"), title="perceptron ET (poids à la main)")

# %% [markdown]
# Le XOR du cours, fait de trois perceptrons : deux droites découpent le plan.

# %%
decision_boundary_figure(xor, *gate_table("xor"), title="XOR = ET(OU, NON ET)")

# %% [markdown]
# ## À vous : des poids pour ET, OU, NON, puis XOR
#
# `portes()` renvoie les poids, biais d'abord, de trois perceptrons : ET et OU à deux entrées,
# NON à une. `xor(x)` calcule a XOR b pour chaque ligne (a, b) de x avec des perceptrons en
# couches (`perceptron(poids, x)` est écrit pour vous).


# %% tags=["exercice"]
def perceptron(poids, x):
    """1 si w0 + w1 x1 + ... > 0, sinon 0, pour chaque ligne de x."""
    w = torch.tensor(poids, dtype=torch.float)
    return (w[0] + x @ w[1:] > 0).float()


def portes():
    ### BEGIN SOLUTION
    return {"et": [-0.6, 0.5, 0.5], "ou": [-0.5, 1, 1], "non": [1, -1]}
    ### END SOLUTION


def xor(x):
    ### BEGIN SOLUTION
    poids = portes()
    ou, et = perceptron(poids["ou"], x), perceptron(poids["et"], x)
    non_et = perceptron(poids["non"], et.unsqueeze(1))
    return perceptron(poids["et"], torch.stack([ou, non_et], dim=1))
    ### END SOLUTION


# %% tags=["exercice"]
verifier_portes(portes)

# %% tags=["exercice"]
verifier_xor(xor)

# %% [markdown]
# ## Une unité linéaire entraînée : ET oui, XOR non
#
# `experiment=logic_gates data.gate=...` : une seule unité, SGD.

# %%
gates = {
    gate: charlm.fit("logic_gates", [f"data.gate={gate}"], root=ROOT, quiet=True)
    for gate in ("and", "or", "xor")
}
for gate, run in gates.items():
    print(f"{gate:>4}: précision {run.metrics['test']['acc']:.2f}")

# %%
decision_boundary_figure(gates["xor"].model, *gate_table("xor"), title="une unité : XOR raté")

# %% [markdown]
# ## Le réseau 2-2-1 à sigmoïdes
#
# `experiment=xor_sigmoid` : deux sigmoïdes cachées, une sortie. Le cours l'entraîne en SGD
# lr 0,03 (des dizaines de milliers de pas, souvent bloqué) ; charlm prend lr 0,5 et un moment
# de 0,9, 5 000 pas. Sa frontière : la bande du cours, entre deux droites.

# %%
net221 = charlm.fit("xor_sigmoid", root=ROOT, quiet=True)
decision_boundary_figure(net221.model, *gate_table("xor"), title="réseau 2-2-1 : XOR appris")

# %%
probs = net221.model.predict(gate_table("xor")[0]).probs[:, 1]
print("P(1) pour (0,0) (0,1) (1,0) (1,1) :", [round(p, 3) for p in probs.tolist()])

# %% [markdown]
# ## Le chiffre clé
#
# Les perceptrons à la main donnent les tables exactes ; l'unité seule apprend ET et OU mais
# pas XOR (au plus 3 sur 4) ; le 2-2-1 apprend XOR (4 sur 4).

# %%
table_x, table_y = gate_table("xor")
assert torch.equal(xor(table_x).reshape(-1).long(), table_y)
assert gates["and"].metrics["test"]["acc"] == 1.0 and gates["or"].metrics["test"]["acc"] == 1.0
assert gates["xor"].metrics["test"]["acc"] <= 0.75
assert net221.metrics["test"]["acc"] == 1.0
