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

"""Reading the texts a run speaks or distils from: a text file (one per line) or a NeMo JSON-lines manifest. Plain
Python: the serving benchmark reads them without importing torch or NeMo."""

import json
import os
from typing import List, Optional

__all__ = ["read_texts"]


def read_texts(path: str, limit: Optional[int] = None) -> List[str]:
    """Texts from a text file (one per line) or a NeMo JSON-lines manifest (its ``text`` field)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"text source {path} does not exist")
    texts = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): save it as "
                         "UTF-8") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number} is neither a sentence nor valid JSON: {error}") from None
            if not str(entry.get("text", "")).strip():
                raise ValueError(f"{path}:{number}: manifest entry without a 'text' field")
            line = str(entry["text"]).strip()
        texts.append(line)
    if not texts:
        raise ValueError(f"{path} holds no text")
    return texts[:limit] if limit else texts
