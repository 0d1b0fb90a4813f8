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

"""Text as a voice can speak it: which characters its tokenizer drops, and long text cut into pieces of bounded size.

Pure Python (no numpy, torch or NeMo): the PyTorch voice and the ONNX client share it. The front-end attends over a
whole text at once, so its memory grows with the square of the text's length; a text is therefore spoken piece by
piece: whole sentences, as many as fit in ``max_chars``; a longer sentence cut at the last comma (else space) that
keeps a piece under it (a word longer than that is cut where it must be). Joined, the pieces' audio is the text's.
"""

import re
from typing import List

__all__ = ["MAX_CHARS", "split_sentences", "split_text"]

MAX_CHARS = 300  # characters per piece: bounded memory, and long enough for a sentence's prosody

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")  # where split_text may cut between clauses
_FULL_STOP = re.compile(r"(?<=[.!?])\s+")  # where a sentence ends


def split_text(text: str, max_chars: int = MAX_CHARS) -> List[str]:
    """``text`` -> pieces of at most ``max_chars`` characters (stripped, none empty), in order; a text of at most
    ``max_chars`` characters is one piece, unchanged but for outer whitespace."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: List[str] = []
    for sentence in _SENTENCE_END.split(text):
        parts = []
        while len(sentence) > max_chars:  # inside a long sentence: at the last comma, else the last space
            comma = sentence.rfind(", ", 0, max_chars)
            cut = comma + 1 if comma > 0 else sentence.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            parts.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        parts.append(sentence)
        for part in (p for p in parts if p):  # whole sentences share a piece while it stays short enough
            if pieces and len(pieces[-1]) + 1 + len(part) <= max_chars and len(parts) == 1:
                pieces[-1] = f"{pieces[-1]} {part}"
            else:
                pieces.append(part)
    return pieces


def split_sentences(text: str, max_chars: int = MAX_CHARS) -> List[str]:
    """``text`` -> its sentences, in order, one piece each (a sentence longer than ``max_chars`` cut as
    :func:`split_text` cuts it): the units a stream speaks one at a time, so the first is heard while the rest are
    made."""
    pieces: List[str] = []
    for sentence in _FULL_STOP.split(" ".join(text.split())):
        pieces.extend(split_text(sentence, max_chars))
    return pieces
