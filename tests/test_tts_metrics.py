import pytest
import torch

from nemo_distill.eval.tts_metrics import masked_mel_l1, normalize_words, word_error_rate


def test_normalize_and_wer():
    assert normalize_words("The old man, found A box!") == ["the", "old", "man", "found", "a", "box"]
    assert word_error_rate(["the old man found a box."], ["The old man found a box"]) == 0.0
    # one substitution + one deletion over 6 + 2 reference words
    assert word_error_rate(["the old man found a box", "hello there"], ["the old cat found a box", "hello"]) == \
        pytest.approx(2 / 8)


def test_masked_mel_l1_ignores_padding():
    target = torch.zeros(2, 3, 5)
    prediction = torch.zeros(2, 3, 5)
    prediction[0, :, 3:] = 100.0  # padding of utterance 0
    prediction[1] = 1.0
    l1 = masked_mel_l1(prediction, target, torch.tensor([3, 5]))
    assert l1.tolist() == [0.0, 1.0]
