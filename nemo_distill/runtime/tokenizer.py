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

"""NeMo's character tokenizer without NeMo: the voice's ``tokenizer.json`` description read back into its rules.

:class:`CharTokenizer` is ``BaseCharsTokenizer.encode`` (NeMo's text preprocessing, its punctuation and padding
rules) plus the checks both the PyTorch voice and the ONNX client apply to a text before it is spoken: which characters
it drops, whether anything is left to speak. numpy only: a deployment imports it without torch or NeMo.
"""

import unicodedata
import warnings
from typing import Dict, List, Sequence

import numpy as np

__all__ = ["CharTokenizer", "UnspeakableTextWarning"]

_SYNOGLYPHS = {"\u2019": "'", "\u201d": '"', "\u201c": '"'}  # NeMo's SYNOGLYPH2ASCII


def _english(text: str) -> str:  # NeMo's english_text_preprocessing
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(_SYNOGLYPHS.get(c, c) for c in text).lower()


def _any_locale(text: str) -> str:  # NeMo's any_locale_text_preprocessing
    return "".join("'" if c == "\u2019" else c for c in unicodedata.normalize("NFC", text))


_PREPROCESSING = {"english": _english, "any_locale": _any_locale}


class UnspeakableTextWarning(UserWarning):
    """A text holds characters the voice's tokenizer drops (they are not spoken)."""


class CharTokenizer:
    """NeMo's ``BaseCharsTokenizer.encode`` from its ``tokenizer.json`` description."""

    def __init__(self, spec: Dict):
        if spec.get("type") != "chars":
            raise ValueError(f"unsupported tokenizer type {spec.get('type')!r}: only character tokenizers")
        if spec["text_preprocessing"] not in _PREPROCESSING:
            raise ValueError(f"unknown text preprocessing {spec['text_preprocessing']!r}")
        self.tokens: List[str] = spec["tokens"]
        self.token_ids = {token: i for i, token in enumerate(self.tokens)}
        self.pad, self.space_id = spec["pad"], spec["space"]
        self.punct, self.punct_list = spec["punct"], set(spec["punct_list"])
        self.pad_with_space = spec["pad_with_space"]
        self.preprocess = _PREPROCESSING[spec["text_preprocessing"]]

    def encode(self, text: str) -> List[int]:
        space, chars = self.tokens[self.space_id], []
        for c in self.preprocess(text):
            if c == space and chars and chars[-1] != space:
                chars.append(c)
            elif (c.isalnum() or c == "'") and c in self.token_ids:
                chars.append(c)
            elif c in self.punct_list and self.punct:
                chars.append(c)
        while chars and chars[-1] == space:
            chars.pop()
        if self.pad_with_space:
            chars = [space] + chars + [space]
        return [self.token_ids[c] for c in chars]

    def dropped(self, text: str) -> List[str]:
        """The characters of ``text`` (after the tokenizer's preprocessing) that :meth:`encode` skips, in order of
        first appearance; whitespace aside."""
        space, seen = self.tokens[self.space_id], []
        for c in self.preprocess(text):
            kept = c == space or ((c.isalnum() or c == "'") and c in self.token_ids) or (
                c in self.punct_list and self.punct)
            if not kept and not c.isspace() and c not in seen:
                seen.append(c)
        return seen

    def speakable(self, text: str) -> bool:
        """Whether ``text`` has a letter or digit the tokenizer keeps."""
        return any(c.isalnum() and c in self.token_ids for c in self.preprocess(text))

    def check(self, text: str, strict: bool = False, name: str = "the tokenizer") -> None:
        """ValueError for an empty text or one with nothing to speak (no letter or digit the tokenizer has: only
        punctuation, or only unknown characters); characters it drops are an :class:`UnspeakableTextWarning` that
        lists them (with ``strict``, a ValueError)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty text: {text!r}")
        dropped = self.dropped(text)
        if dropped and strict:
            raise ValueError(f"text {text!r} has characters {name} cannot speak: {dropped}")
        if not self.speakable(text):
            raise ValueError(f"text {text!r} has no character {name} supports (nothing to speak)")
        if dropped:
            warnings.warn(f"text {text!r}: {name} cannot speak {dropped}: they are skipped (strict refuses them)",
                          UnspeakableTextWarning, stacklevel=3)

    def encode_batch(self, texts: Sequence[str], strict: bool = False, check: bool = True) -> np.ndarray:
        """Texts -> ``[B, L]`` int64 ids padded with the pad id; ValueError for empty or unspeakable text (see
        :meth:`check`; ``check=False``: the caller checked them already)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("no text given")
        rows = []
        for text in texts:
            if check:
                self.check(text, strict)
            rows.append(self.encode(text))
        batch = np.full((len(rows), max(len(r) for r in rows)), self.pad, dtype=np.int64)
        for i, row in enumerate(rows):
            batch[i, : len(row)] = row
        return batch
