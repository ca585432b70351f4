"""The vocabulary: sorted characters, encoding both ways, whole corpora as tensors."""

from __future__ import annotations

import pytest
import torch

from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.text.vocab import _CHUNK, Vocab

NON_LATIN = "한국어로 쓴 문장. 中文的句子。 \U0001f600\U0001f3ad\u2764\ufe0f\n"


def test_sorted_unique_characters() -> None:
    v = Vocab.from_text("hello world")
    assert v.chars == " dehlorw"
    assert len(v) == 8
    assert v == Vocab(" dehlorw") and v != Vocab("dehlorw ")
    with pytest.raises(ValueError):
        Vocab("aa")


@pytest.mark.parametrize("text", ["To be, or not to be: that is the question.\n", NON_LATIN])
def test_round_trip_both_ways(text: str) -> None:
    v = Vocab.from_text(text)
    ids = v.encode(text)
    assert v.decode(ids) == text
    assert all(0 <= i < len(v) for i in ids)
    tensor = v.encode_tensor(text)
    assert tensor.tolist() == ids
    assert v.decode(tensor) == text


def test_small_vocab_is_bytes_large_vocab_is_int32() -> None:
    assert Vocab.from_text("abc").encode_tensor("cab").dtype == torch.uint8
    thousands = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 3000))  # 3,000 CJK ideographs
    v = Vocab.from_text(thousands)
    assert len(v) == 3000
    t = v.encode_tensor(thousands[::-1])
    assert t.dtype == torch.int32
    assert t.tolist() == list(range(2999, -1, -1))


def test_encode_tensor_across_chunks() -> None:
    text = ("\U0001f600ab\ud55c" * (_CHUNK // 2))[: 2 * _CHUNK + 7]  # spans three chunks
    v = Vocab.from_text(text)
    t = v.encode_tensor(text)
    assert len(t) == len(text)
    assert v.decode(t[_CHUNK - 3 : _CHUNK + 5]) == text[_CHUNK - 3 : _CHUNK + 5]
    assert v.decode(t[-9:]) == text[-9:]


def test_unseen_characters_are_named() -> None:
    v = Vocab.from_text("abc ")
    assert v.missing("a\u00e9b\u00e9\U0001f600") == ["\u00e9", "\U0001f600"]
    with pytest.raises(CharRNNError, match="never saw these characters: '\u00e9' '\U0001f600'"):
        v.encode("a\u00e9\U0001f600")
    # A character between two known ones, or past the last, must not silently become a neighbour.
    for text in ("ab`", "abz", "\x01abc"):
        with pytest.raises(CharRNNError, match="never saw"):
            v.encode_tensor(text)


def test_many_unseen_characters_are_summarised() -> None:
    v = Vocab("a")
    with pytest.raises(CharRNNError, match="and 5 more"):
        v.check("".join(chr(0x4E00 + i) for i in range(25)))
