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

"""The text front-end a deployment client needs, as data: the character tokenizer's vocabulary and rules.

NeMo's character tokenizers (``BaseCharsTokenizer`` subclasses such as ``EnglishCharsTokenizer``) are a vocabulary
plus a few rules (text preprocessing, which characters are kept, space handling, padding with spaces). The client
(:mod:`nemo_distill.runtime.onnx_client`) re-applies exactly these rules without importing NeMo or torch; the tests check it
gives the same ids as ``model.parse`` on awkward text. Tokenizers with a G2P step (IPA, ARPAbet) cannot be written
down this way and are refused.
"""

from typing import Dict

__all__ = ["tokenizer_spec"]


def _preprocessing_name(func) -> str:
    from nemo.collections.common.tokenizers.text_to_speech.tokenizer_utils import (
        any_locale_text_preprocessing,
        english_text_preprocessing,
    )

    known = {english_text_preprocessing: "english", any_locale_text_preprocessing: "any_locale"}
    if func in known:
        return known[func]
    raise ValueError(f"the tokenizer's text_preprocessing_func {getattr(func, '__name__', func)!r} is not one the "
                     f"ONNX client implements ({sorted(known.values())})")


def tokenizer_spec(vocab) -> Dict:
    """The JSON-serialisable description of a NeMo character tokenizer (``model.vocab``)."""
    from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import BaseCharsTokenizer

    if not isinstance(vocab, BaseCharsTokenizer):
        raise ValueError(f"{type(vocab).__name__} is not a character tokenizer: the ONNX client only reproduces "
                         "NeMo's character tokenizers (e.g. EnglishCharsTokenizer); a G2P tokenizer needs its own "
                         "front-end service")
    return {
        "type": "chars",
        "class": type(vocab).__name__,
        "tokens": list(vocab.tokens),
        "pad": int(vocab.pad),
        "space": int(vocab.space),
        "punct": bool(vocab.punct),
        "punct_list": list(vocab.PUNCT_LIST),
        "pad_with_space": bool(vocab.pad_with_space),
        "text_preprocessing": _preprocessing_name(vocab.text_preprocessing_func),
    }
