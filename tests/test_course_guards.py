"""The course's checks against a student's code that misbehaves: it mutates what it is given,
is right on the check's words and wrong on the student's own, overflows, never returns, is
interrupted, or answers in the wrong type. Each check still says "Juste" only to a right
answer, says what is wrong in French, and leaves nothing behind for the checks after it.
Also the exercises of lessons 6 (whole words as sequences) and 8 (a BPE merge)."""

from __future__ import annotations

import threading

import pytest
import torch
from test_course import count, fails, passes, sampler

from charlm import course
from charlm.course import verdict
from charlm.course.checks.common import MOTS
from charlm.course.checks.sequences import MOTS_SEQUENCES
from charlm.course.checks.tokens import fusion_de_reference

# A word list on which one pair ("a" then "b") comes back 300 times: an int8 count overflows.
MANY = ["ab"] * 300 + ["ba", "abc"]


def test_counts_that_overflow_their_dtype_are_wrong_not_juste():
    fails(
        course.verifier_bigramme(lambda m, s: count(m, s, dtype=torch.int8), mots=MANY),
        "torch.int8, qui compte au plus jusqu'à 127", "déborde",
    )  # fmt: skip
    passes(course.verifier_bigramme(lambda m, s: count(m, s, dtype=torch.int16), mots=MANY))


def test_counts_right_on_the_checks_words_and_wrong_on_the_students_are_wrong():
    def first_hundred(mots, stoi):  # right on 4 words, wrong past the hundredth
        return count(mots[:100], stoi)

    fails(course.verifier_bigramme(first_hundred, mots=MANY), "pas sur les vôtres")


def _pops(function):
    def student(mots, *args):
        while mots:
            mots.pop()
        return function(mots, *args)

    return student


@pytest.mark.parametrize(
    ("check", "right"),
    [
        (course.verifier_bigramme, count),
        (course.verifier_fenetres, None),
        (course.verifier_sequences, None),
    ],
)
def test_a_function_that_empties_its_list_breaks_no_later_check(check, right):
    mine = ["loi", "code", "civil", "article", "droit"]
    before, ours = list(mine), list(MOTS)
    assert not check(_pops(lambda *a: None), mots=mine)
    assert mine == before and ours == MOTS and MOTS_SEQUENCES == ["loi", "code", "a"]
    if right is not None:
        assert check(right, mots=mine)


def _never_ends(p, itos, g):
    out, ix = [], 0
    while True:  # the lesson's commonest bug: the loop never looks for the end token
        ix = int(torch.multinomial(p[ix], num_samples=1, replacement=True, generator=g))
        out.append(itos[ix])


def _swallows(p, itos, g):
    while True:
        try:  # noqa: SIM105 (a student's except that swallows all it can)
            sum(range(1000))
        except Exception:  # noqa: BLE001, S110
            pass


@pytest.mark.parametrize("student", [_never_ends, _swallows])
def test_a_sampler_that_never_stops_is_told_so_in_the_main_thread(monkeypatch, student):
    monkeypatch.setattr(verdict, "LIMITE_S", 0.5)
    fails(course.verifier_echantillonneur(student), "ne s'est pas arrêtée en 0.5 secondes",
          "if ix == 0: break")  # fmt: skip
    passes(course.verifier_echantillonneur(sampler))  # the limit is gone after it


def test_a_sampler_that_never_stops_is_told_so_in_another_thread(monkeypatch):
    """Outside the main thread no SIGALRM: the trace-function limit answers instead."""
    monkeypatch.setattr(verdict, "LIMITE_S", 0.5)
    answers: list = []
    worker = threading.Thread(target=lambda: answers.append(
        course.verifier_echantillonneur(_never_ends)))  # fmt: skip
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    fails(answers[0], "ne s'est pas arrêtée")


def test_an_interrupted_check_answers_without_a_traceback():
    def interrupted(p, itos, g):
        raise KeyboardInterrupt

    fails(course.verifier_echantillonneur(interrupted), "Vérification interrompue")


def test_xor_as_probabilities_is_told_to_threshold():
    message = fails(
        course.verifier_xor(lambda x: torch.tensor([0.02, 0.97, 0.98, 0.03])),
        "des probabilités", "(sortie > 0.5).long()",
    )  # fmt: skip
    assert "vaut 1 ; attendu : 1" not in message
    passes(course.verifier_xor(lambda x: (x[:, 0] != x[:, 1]).long()))
    fails(course.verifier_xor(lambda x: torch.tensor([0, 2, 1, 0])), "doit être 0 ou 1")


def test_a_class_must_be_an_integer_not_a_boolean_or_a_float():
    from charlm.data.tables import fizzbuzz_label

    fails(course.verifier_fizzbuzz(lambda n: bool(fizzbuzz_label(n))), "pas un booléen")
    fails(course.verifier_fizzbuzz(lambda n: float(fizzbuzz_label(n))), "un entier")
    passes(course.verifier_fizzbuzz(lambda n: torch.tensor(fizzbuzz_label(n))))


# ---- Leçon 6: whole words as sequences ----


def sequences(mots, stoi, *, shift=True, pad=-1, end=True, start=True, extra=1):
    width = max(len(m) for m in mots) + extra
    x = torch.zeros(len(mots), width, dtype=torch.long)
    y = torch.full((len(mots), width), pad, dtype=torch.long)
    for i, mot in enumerate(mots):
        ids = [stoi[c] for c in mot]
        xs = ([0] if start else []) + ids
        ys = ids + ([0] if end else [])
        x[i, : len(xs[:width])] = torch.tensor(xs[:width], dtype=torch.long)
        y[i, : len(ys[:width])] = torch.tensor(ys[:width] if shift else xs[:width])
    return x, y


def test_whole_word_sequences_and_their_mistakes():
    passes(course.verifier_sequences(sequences, mots=["article", "loi", "code", "x"]))
    for options, hint in [
        ({"shift": False}, "Y répète X"),
        ({"pad": 0}, "Le remplissage de Y vaut [0]"),
        ({"end": False}, "Il manque le « . » de fin"),
        ({"start": False}, "X doit commencer par le « . » du début"),
        ({"extra": 0}, "il en faut une de plus"),
    ]:
        fails(course.verifier_sequences(lambda m, s, o=options: sequences(m, s, **o)), hint)

    def cut(mots, stoi):  # right on the check's 3 words, its padding wrong on more
        return sequences(mots, stoi, pad=0 if len(mots) > 3 else -1)

    fails(
        course.verifier_sequences(cut, mots=["loi", "code", "a", "article"]), "pas sur les vôtres"
    )


# ---- Leçon 8: a BPE merge ----


def merge(ids, pair, new, *, overlap=False, first_only=False, drop_last=False):
    out, i, merged = [], 0, False
    while i < len(ids) - (1 if drop_last else 0):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair) and not (first_only and merged):
            out.append(new)
            merged = True
            i += 1 if overlap else 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_the_bpe_merge_and_its_mistakes():
    assert fusion_de_reference([1, 1, 1], (1, 1), 9) == [9, 1]
    passes(course.verifier_fusion(merge))
    for options, hint in [
        ({"overlap": True}, "Les fusions se chevauchent"),
        ({"first_only": True}, "pas seulement la première"),
        ({"drop_last": True}, "Le dernier id est perdu"),
    ]:
        fails(course.verifier_fusion(lambda i, p, n, o=options: merge(i, p, n, **o)), hint)
    fails(course.verifier_fusion(lambda i, p, n: merge(i, p[::-1], n)), "la paire est ordonnée")

    def in_place(ids, pair, new):
        ids[:] = merge(ids, pair, new)
        return ids

    fails(course.verifier_fusion(in_place), "a modifié la liste qu'elle a reçue")
    fails(course.verifier_fusion(lambda i, p, n: tuple(map(str, i))), "une liste d'entiers")
