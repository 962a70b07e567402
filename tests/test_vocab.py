import pytest

from charlm.data import Vocabulary, VocabularyError, load_words


def test_ids_are_sorted_characters_from_one_with_boundary_zero(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    assert vocab.itos[0] == "."
    assert vocab.itos[1:] == sorted(set("".join(tiny_words)))
    assert vocab.stoi["a"] == 1
    assert len(vocab) == len(set("".join(tiny_words))) + 1


def test_encode_decode_round_trip(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    ids = vocab.encode("emma")
    assert vocab.decode(ids) == "emma"
    assert all(i > 0 for i in ids)


def test_string_storage_round_trip(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    assert Vocabulary.from_string(vocab.to_string()) == vocab


def test_unknown_characters_are_named(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    with pytest.raises(VocabularyError, match=r"'éq'") as err:
        vocab.encode("équipe")
    assert "vocabulary is" in str(err.value)


@pytest.mark.corpus
def test_civil_mots_mapping_matches_the_notebooks(corpus):
    vocab = Vocabulary.from_words(load_words(corpus))
    assert len(vocab) == 41
    assert vocab.stoi["'"] == 1
    assert vocab.stoi["-"] == 2
    assert vocab.stoi["a"] == 3
    assert vocab.stoi["œ"] == 40
    assert "k" not in vocab.stoi
