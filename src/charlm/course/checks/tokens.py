"""Leçon 8, tokens: the merge at the heart of BPE, a pair of ids replaced by a new one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from charlm.course.verdict import Faute, appeler, fonction, verification

# (ids, pair, new id): a pair at the start and the end, overlapping runs, no occurrence.
CAS_FUSION = [
    ([5, 6, 5, 6, 7], (5, 6), 9),
    ([1, 1, 1], (1, 1), 9),
    ([1, 1, 1, 1], (1, 1), 9),
    ([2, 3, 4], (3, 4), 9),
    ([4, 3, 2], (3, 4), 9),
    ([], (1, 2), 9),
]


def fusion_de_reference(ids: Sequence[int], paire: tuple[int, int], nouveau: int) -> list[int]:
    """`ids` with each occurrence of `paire`, read left to right without overlap, replaced by
    `nouveau` (the merge a BPE tokenizer learns, one rule at a time)."""
    return _fusion(ids, paire, nouveau)


def _fusion(
    ids: Sequence[int], paire: Sequence[int], nouveau: int,
    saut: int = 2, toutes: bool = True, dernier: bool = True,
) -> list[int]:  # fmt: skip
    """The merge, or one of its typical mistakes: `saut=1` lets merges overlap, `toutes=False`
    merges the first occurrence only, `dernier=False` loses the last id."""
    out, i, merged = [], 0, False
    end = len(ids) if dernier else len(ids) - 1
    while i < end:
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(paire) and (toutes or not merged):
            out.append(nouveau)
            merged, i = True, i + saut
        else:
            out.append(ids[i])
            i += 1
    return out


@verification
def verifier_fusion(fusionner: Callable) -> str:
    """fusionner(ids, paire, nouveau) -> une nouvelle liste : chaque paire (a, b) d'ids
    consécutifs, lue de gauche à droite sans chevauchement, remplacée par `nouveau`."""
    f = fonction(fusionner, "fusionner")
    for ids, paire, nouveau in CAS_FUSION:
        given = list(ids)
        got = appeler(f, "fusionner", given, paire, nouveau, copier=False)
        if given != ids:
            raise Faute(
                f"fusionner a modifié la liste qu'elle a reçue ({ids} est devenue {given}) : "
                "construisez une nouvelle liste et renvoyez-la."
            )
        if not isinstance(got, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in got
        ):
            raise Faute(
                f"fusionner({ids}, {paire}, {nouveau}) doit renvoyer une liste d'entiers, pas {got!r}."
            )
        got, want = list(got), fusion_de_reference(ids, paire, nouveau)
        if got == want:
            continue
        call = f"fusionner({ids}, {paire}, {nouveau})"
        mistakes = {
            f"{call} vaut {got} : la paire est ordonnée, {paire[0]} puis {paire[1]}.": _fusion(
                ids, paire[::-1], nouveau
            ),
            f"{call} vaut {got} ; attendu : {want}. Les fusions se chevauchent : après une "
            "fusion, sautez les deux ids fusionnés (i += 2).": _fusion(ids, paire, nouveau, saut=1),
            f"{call} vaut {got} ; attendu : {want}. Toutes les occurrences de la paire sont "
            "fusionnées, pas seulement la première.": _fusion(ids, paire, nouveau, toutes=False),
            f"{call} vaut {got} ; attendu : {want}. Le dernier id est perdu : quand la boucle "
            "s'arrête avant lui, ajoutez-le.": _fusion(ids, paire, nouveau, dernier=False),
        }
        for hint, wrong in mistakes.items():
            if got == wrong:
                raise Faute(hint)
        raise Faute(f"{call} vaut {got} ; attendu : {want}.")
    return (
        f"les {len(CAS_FUSION)} cas sont justes, chevauchements compris : "
        "fusionner([1, 1, 1], (1, 1), 9) = [9, 1]."
    )
