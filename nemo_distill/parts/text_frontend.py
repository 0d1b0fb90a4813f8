# Copyright (c) 2026, The nemo_distill authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The voice's text front-end: one place for the rules a text meets before FastPitch's tokens are made.

A text is checked (:meth:`TextFrontend.check`: empty, nothing to speak, characters the tokenizer drops), cut into
pieces of bounded length (:meth:`~TextFrontend.pieces`, :func:`~nemo_distill.runtime.text.split_text`) and parsed
into padded token batches (:meth:`~TextFrontend.parse_batch`, with the model's own ``parse``: NeMo's normaliser and
tokenizer). For a character tokenizer the rules are those of
:class:`~nemo_distill.runtime.tokenizer.CharTokenizer`, the torch-free reading of the same ``tokenizer.json`` the ONNX
client and the Triton models use, so every path speaks a text the same way; a G2P tokenizer has only NeMo's ``parse``.
"""

from typing import Callable, List, Optional, Tuple

import torch

from nemo_distill.parts.tokenizer_spec import tokenizer_spec
from nemo_distill.runtime.text import MAX_CHARS, split_text
from nemo_distill.runtime.tokenizer import CharTokenizer

__all__ = ["TextFrontend"]


class TextFrontend:
    """The text rules of a voice whose tokenizer is ``vocab`` and whose ``parse(text) -> tokens [1, L]`` is NeMo's
    (normaliser + tokenizer)."""

    def __init__(self, vocab, parse: Callable[[str], torch.Tensor]):
        self.vocab, self._parse = vocab, parse
        try:
            self.rules: Optional[CharTokenizer] = CharTokenizer(tokenizer_spec(vocab))
        except ValueError:  # a G2P tokenizer: NeMo's parse only
            self.rules = None
        self._space_ids = {vocab.encode(" ")[0]} if vocab.encode(" ") else set()

    @property
    def name(self) -> str:
        return f"the {type(self.vocab).__name__}"

    def check(self, text: str, strict: bool = False) -> None:
        """ValueError for an empty text or one with nothing to speak (only punctuation or unknown characters);
        characters the tokenizer drops are an ``UnspeakableTextWarning`` listing them (``strict``: a ValueError)."""
        if self.rules is not None:
            self.rules.check(text, strict, name=self.name)
            return
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty text: {text!r}")
        self._check_content(text, self._parse(text)[0])

    def _check_content(self, text: str, tokens: torch.Tensor) -> None:
        if not [int(t) for t in tokens if int(t) != self.vocab.pad and int(t) not in self._space_ids]:
            raise ValueError(f"text {text!r} has no character {self.name} supports")

    def pieces(self, text: str, max_chars: int = MAX_CHARS) -> List[str]:
        """``text`` cut into pieces of at most ``max_chars`` characters at sentence ends, those with something to
        speak: a long text is synthesised piece by piece, so memory stays bounded."""
        return [piece for piece in split_text(text, max_chars) if self.rules is None or self.rules.speakable(piece)]

    def parse_batch(self, texts, strict: bool = False, check: bool = True,
                    device=None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Texts -> ``(tokens [B, L] padded with the tokenizer's pad id, lengths [B])`` on ``device``; every text
        checked first (:meth:`check`). ``check=False``: the caller checked them already (no second warning)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("no text given")
        if check:
            for text in texts:
                self.check(text, strict)
        sequences = []
        for text in texts:
            tokens = self._parse(text)[0]
            self._check_content(text, tokens)
            sequences.append(tokens)
        lengths = torch.tensor([len(seq) for seq in sequences], device=device)
        padded = torch.full((len(sequences), int(lengths.max())), self.vocab.pad, dtype=torch.long, device=device)
        for i, seq in enumerate(sequences):
            padded[i, : len(seq)] = seq
        return padded, lengths
