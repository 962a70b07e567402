"""The exercises' checks (charlm.course): a right answer passes with its figure, each typical
mistake gets its own French hint, and nothing a student writes makes a check raise."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from charlm import course
from charlm.course import Verdict


def passes(verdict: Verdict) -> str:
    assert isinstance(verdict, Verdict)
    assert verdict.ok, verdict.message
    assert repr(verdict).startswith("✅ Juste.")
    return verdict.message


def fails(verdict: Verdict, *hints: str) -> str:
    assert isinstance(verdict, Verdict)
    assert not verdict.ok, verdict.message
    assert repr(verdict).startswith("❌ ")
    assert "Traceback" not in verdict.message and 'File "' not in verdict.message
    for hint in hints:
        assert hint in verdict.message, verdict.message
    return verdict.message


# ---- Leçon 4: the bigram ----


def count(mots, stoi, *, start=True, end=True, transpose=False, dtype=torch.int32):
    n = torch.zeros(len(stoi), len(stoi), dtype=dtype)
    for mot in mots:
        chars = (["."] if start else []) + list(mot) + (["."] if end else [])
        for a, b in zip(chars, chars[1:], strict=False):
            i, j = (stoi[b], stoi[a]) if transpose else (stoi[a], stoi[b])
            n[i, j] += 1
    return n


def test_the_count_matrix_passes_with_the_loss_it_reaches_beside_charlms():
    message = passes(course.verifier_bigramme(count, mots=["loi", "code", "code"]))
    assert "perte du comptage vaut" in message and "charlm :" in message
    first, second = message.split("vaut ")[1].split(" (charlm : ")
    assert first == second.split(" ;")[0]  # the student's figure is charlm's


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"start": False}, "« . » du début manque"),
        ({"end": False}, "« . » de fin manque"),
        ({"start": False, "end": False}, "« . » du début et de fin manque"),
        ({"transpose": True}, "N est transposée"),
        ({"dtype": torch.float}, "il faut des entiers"),
    ],
)
def test_a_wrong_count_matrix_gets_its_hint(options, hint):
    fails(course.verifier_bigramme(lambda m, s: count(m, s, **options)), hint)


def test_the_count_matrix_of_the_wrong_shape_or_type_is_named():
    fails(
        course.verifier_bigramme(lambda m, s: torch.zeros(3, 3, dtype=torch.long)), "forme (3, 3)"
    )
    fails(course.verifier_bigramme(lambda m, s: [[0]]), "doit être un torch.Tensor")
    fails(course.verifier_bigramme(torch.zeros(3)), "votre fonction `compter_bigrammes` elle-même")


def test_a_student_error_is_told_with_its_line_not_a_traceback():
    def compter_bigrammes(mots, stoi):
        n = torch.zeros(len(stoi), len(stoi))
        return n[len(stoi) + 5]

    message = fails(course.verifier_bigramme(compter_bigrammes), "a levé IndexError", "ligne")
    assert "charlm" not in message.split("ligne")[1]


def test_an_unwritten_exercise_says_so():
    def compter_bigrammes(mots, stoi):
        # VOTRE CODE ICI
        raise NotImplementedError()

    fails(course.verifier_bigramme(compter_bigrammes), "pas encore écrite", "NotImplementedError")


def test_normalisation_right_and_its_three_mistakes():
    passes(course.verifier_normalisation(lambda n: n / n.sum(1, keepdim=True)))
    fails(
        course.verifier_normalisation(lambda n: n / n.sum(0, keepdim=True)),
        "normalisé les colonnes",
    )
    fails(course.verifier_normalisation(lambda n: n / n.sum(1)), "sans keepdim=True")
    fails(course.verifier_normalisation(lambda n: n.float() / 10), "somment à")

    def in_place(n):
        n[0, 0] = 7
        return n / n.sum(1, keepdim=True)

    fails(course.verifier_normalisation(in_place), "a modifié N")


def test_the_neural_bigram_softmax():
    def right(xs, w):
        return F.softmax(F.one_hot(xs, w.shape[0]).float() @ w, dim=1)

    passes(course.verifier_softmax(right))
    fails(
        course.verifier_softmax(lambda xs, w: F.softmax(F.one_hot(xs, 5).float() @ w, dim=0)),
        "mauvaise dimension",
    )
    fails(
        course.verifier_softmax(lambda xs, w: (F.one_hot(xs, 5).float() @ w).exp()),
        "exp sans normaliser",
    )
    # The one-hot left as integers: torch's dtype error, told with the fix.
    fails(course.verifier_softmax(lambda xs, w: F.one_hot(xs, 5) @ w), "a levé", ".float()")


def test_the_bigram_loss_and_its_mistakes():
    passes(course.verifier_nll(lambda p, y: -p[torch.arange(len(y)), y].log().mean()))
    fails(course.verifier_nll(lambda p, y: -p[torch.arange(len(y)), y].log()), "forme (6,)")
    fails(course.verifier_nll(lambda p, y: -p[torch.arange(len(y)), y].log().sum()), "la somme")
    fails(course.verifier_nll(lambda p, y: p[torch.arange(len(y)), y].log().mean()), "Le signe")
    fails(
        course.verifier_nll(lambda p, y: -(p.log() * F.one_hot(y, 4)).mean()),
        "moyenné sur toutes les cases",
    )
    fails(course.verifier_nll(lambda p, y: -p[:, y].log().mean()), "probs[:, ys]")


# ---- Leçon 5: the MLP ----


def windows(mots, stoi, k, *, end=True, shifted=False, pad=0):
    x, y = [], []
    for mot in mots:
        context = [pad] * k
        for c in mot + ("." if end else ""):
            if shifted:
                context = context[1:] + [stoi[c]]
            x.append(context)
            y.append(stoi[c])
            if not shifted:
                context = context[1:] + [stoi[c]]
    return torch.tensor(x), torch.tensor(y)


def test_context_windows_right_match_charlm_on_the_lessons_words():
    message = passes(course.verifier_fenetres(windows, mots=["loi", "article", "code"]))
    assert "les mêmes que charlm.context_windows" in message
    assert "17 fenêtres" in message  # len(mot) + 1 for each word: 4 + 8 + 5


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"end": False}, "Il manque la fenêtre qui prédit le « . » de fin"),
        ({"shifted": True}, "décalées d'un caractère"),
        ({"pad": 1}, "k fois le « . »"),
    ],
)
def test_wrong_context_windows_get_their_hint(options, hint):
    fails(course.verifier_fenetres(lambda m, s, k: windows(m, s, k, **options)), hint)


def test_windows_returned_as_one_tensor_or_floats_are_named():
    fails(course.verifier_fenetres(lambda m, s, k: windows(m, s, k)[0]), "deux tenseurs")
    fails(
        course.verifier_fenetres(lambda m, s, k: tuple(t.float() for t in windows(m, s, k))),
        "entiers",
    )


def test_the_mlp_forward_and_its_mistakes():
    def avant(x, c, w1, b1, w2, b2, tanh=True, softmax=False):
        emb = c[x].view(x.shape[0], -1)
        h = emb @ w1 + b1
        logits = (torch.tanh(h) if tanh else h) @ w2 + b2
        return F.softmax(logits, 1) if softmax else logits

    passes(course.verifier_mlp(avant))
    fails(course.verifier_mlp(lambda *a: avant(*a, tanh=False)), "passer par tanh")
    fails(course.verifier_mlp(lambda *a: avant(*a, softmax=True)), "sans softmax")
    fails(
        course.verifier_mlp(lambda x, c, *rest: avant(x, c, *rest)[:2]),
        "forme (2, 7)",
    )


def test_the_mlp_loss_and_its_mistakes():
    passes(course.verifier_perte(F.cross_entropy))
    fails(
        course.verifier_perte(lambda z, y: F.cross_entropy(z, y, reduction="none")), "par exemple"
    )
    fails(course.verifier_perte(lambda z, y: F.cross_entropy(z, y, reduction="sum")), "la somme")
    fails(
        course.verifier_perte(lambda z, y: -F.log_softmax(z, 0)[torch.arange(len(y)), y].mean()),
        "mauvaise dimension (dim=0",
    )
    fails(
        course.verifier_perte(lambda z, y: -(F.log_softmax(z, 1) * F.one_hot(y, 4)).mean()),
        "moyenné sur toutes les cases",
    )
    fails(
        course.verifier_perte(lambda z, y: -z[torch.arange(len(y)), y].mean()), "log-probabilités"
    )


def test_the_learning_rate_drop():
    passes(course.verifier_taux(lambda etape, etapes: 0.1 if etape < etapes // 2 else 0.01))
    fails(course.verifier_taux(lambda etape, etapes: 0.1), "vaut encore 0,1")
    fails(
        course.verifier_taux(lambda etape, etapes: 0.1 if etape < etapes // 4 else 0.01),
        "vaut déjà 0,01",
    )
    fails(course.verifier_taux(lambda etape, etapes: "0.1"), "doit renvoyer un nombre")


def train(params, x, y, etapes, generateur, *, use_generator=True, update=True, lr=0.1):
    c, w1, b1, w2, b2 = params
    pertes = []
    for _ in range(etapes):
        g = generateur if use_generator else None
        ix = torch.randint(0, len(x), (32,), generator=g)
        h = torch.tanh(c[x[ix]].view(32, -1) @ w1 + b1)
        loss = F.cross_entropy(h @ w2 + b2, y[ix])
        for p in params:
            p.grad = None
        loss.backward()
        if update:
            for p in params:
                p.data += -lr * p.grad
        pertes.append(loss.item())
    return pertes


def test_the_training_loop_and_its_mistakes():
    state = torch.random.get_rng_state()
    message = passes(course.verifier_entrainement(train))
    assert "la perte passe de" in message
    # The check leaves the student's global random state as it was.
    assert torch.equal(torch.random.get_rng_state(), state)
    fails(
        course.verifier_entrainement(lambda *a: train(*a, use_generator=False)),
        "generator=generateur",
    )
    fails(course.verifier_entrainement(lambda *a: train(*a, update=False)), "n'ont pas bougé")
    fails(course.verifier_entrainement(lambda *a: train(*a, lr=-0.1)), "ne baisse pas")
    fails(course.verifier_entrainement(lambda *a: train(*a)[-1]), "liste de ses 300 pertes")


def sampler(p, itos, g, *, use_generator=True, keep_end=False):
    out, ix = [], 0
    while True:
        ix = int(
            torch.multinomial(p[ix], 1, replacement=True, generator=g if use_generator else None)
        )
        if ix == 0:
            return "".join(out) + ("." if keep_end else "")
        out.append(itos[ix])


def test_the_sampler_and_its_mistakes():
    passes(course.verifier_echantillonneur(sampler))
    fails(
        course.verifier_echantillonneur(lambda p, i, g: sampler(p, i, g, use_generator=False)),
        "ignore son générateur",
    )
    fails(
        course.verifier_echantillonneur(lambda p, i, g: sampler(p, i, g, keep_end=True)),
        "contient « . »",
    )
    # Deterministic, but not the course's draw: starting from another row of P.
    fails(
        course.verifier_echantillonneur(lambda p, i, g: sampler(p[[1, 0, 2, 3]], i, g)),
        "la référence tire",
    )


# ---- Leçons 1 to 3 and 7 ----


def test_the_token_predictor_with_the_lessons_network():
    from charlm.data.tables import token_table
    from charlm.models.classifiers import MLPClassifier

    def predire(logits, dim=1, argdim=1):
        probs = F.softmax(logits, dim=dim)
        return probs, probs.argmax(dim=argdim)

    x, y = token_table("xor")
    torch.manual_seed(0)
    net = MLPClassifier(2, 2, hidden_sizes=(4,))
    message = passes(course.verifier_predicteur(predire, modele=net, exemples=(x, y)))
    right = int((net(x).argmax(1) == y).sum())
    assert f"{right} bonnes réponses sur 4" in message
    fails(course.verifier_predicteur(lambda z: predire(z, dim=0)), "mauvaise dimension")
    fails(
        course.verifier_predicteur(lambda z: predire(z, argdim=0)),
        "argmax sur la mauvaise dimension",
    )
    fails(course.verifier_predicteur(lambda z: F.softmax(z, 1)), "deux tenseurs")


def test_the_binary_encoding_and_fizzbuzz_classes():
    def encode(n, chiffres, msb=False, dtype=torch.float):
        bits = [n >> d & 1 for d in range(chiffres)]
        return torch.tensor(bits[::-1] if msb else bits, dtype=dtype)

    passes(course.verifier_encodage(encode))
    fails(course.verifier_encodage(lambda n, c: encode(n, c, msb=True)), "poids fort d'abord")
    fails(course.verifier_encodage(lambda n, c: encode(n, c, dtype=torch.long)), "flottants")
    fails(course.verifier_encodage(lambda n, c: encode(n, c + 1)), "forme (11,)")

    def classe(n, order=(15, 5, 3)):
        for m in order:
            if n % m == 0:
                return {15: 3, 5: 2, 3: 1}[m]
        return 0

    passes(course.verifier_fizzbuzz(classe))
    fails(
        course.verifier_fizzbuzz(lambda n: classe(n, order=(3, 5, 15))),
        "classe(15) vaut 1",
        "Testez 15",
    )


def test_the_perceptrons_weights_and_xor():
    passes(
        course.verifier_portes(lambda: {"et": [-0.6, 0.5, 0.5], "ou": [-0.5, 1, 1], "non": [1, -1]})
    )
    fails(
        course.verifier_portes(
            lambda: {"et": [-0.4, 0.5, 0.5], "ou": [-0.5, 1, 1], "non": [1, -1]}
        ),
        "Pour l'entrée (0, 1), votre perceptron ET donne 1",
    )
    fails(
        course.verifier_portes(lambda: {"et": [0.5, 0.5], "ou": [-0.5, 1, 1], "non": [1, -1]}),
        "ET a 2 entrée",
    )
    fails(course.verifier_portes(lambda: [1, 2]), "dictionnaire")

    def xor(x):
        return ((x[:, 0] + x[:, 1]) == 1).float()

    passes(course.verifier_xor(xor))
    fails(course.verifier_xor(lambda x: ((x[:, 0] + x[:, 1]) >= 1).float()), "xor(1, 1) vaut 1")
    fails(course.verifier_xor(lambda x: torch.zeros(2)), "forme (2,)")


def test_kaimings_gain_and_its_mistakes():
    def kaiming(fan_in, fan_out, g, scale=None, use_generator=True):
        w = torch.randn(fan_in, fan_out, generator=g if use_generator else None)
        return w * (scale if scale is not None else (5 / 3) / fan_in**0.5)

    message = passes(course.verifier_kaiming(kaiming))
    assert "0,0962" in message
    cases = {
        "Il manque le gain": 1 / math.sqrt(300),
        "pas de fan_out": (5 / 3) / math.sqrt(200),
        "pas sa racine": math.sqrt(5 / 3) / math.sqrt(300),
        "ne sont pas mis à l'échelle": 1.0,
    }
    for hint, scale in cases.items():
        fails(course.verifier_kaiming(lambda i, o, g, s=scale: kaiming(i, o, g, scale=s)), hint)
    fails(
        course.verifier_kaiming(lambda i, o, g: kaiming(i, o, g, use_generator=False)),
        "ignore son générateur",
    )


def test_every_check_survives_any_argument():
    """A check given nonsense, or a function returning nonsense, answers; it never raises."""
    checks = [getattr(course, name) for name in course.__all__ if name.startswith("verifier_")]
    assert len(checks) == 18
    for check in checks:
        for answer in (None, 3, lambda *a, **k: None, lambda *a, **k: float("nan")):
            verdict = check(answer)
            assert isinstance(verdict, Verdict) and not verdict.ok, (check.__name__, answer)
