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

"""Corpus builders for ``scripts/build_corpus.py``, the demos and the tests: seeded sentences or spoken digits, Piper
and espeak-ng engines, atomic idempotent manifests. Not installed: ``scripts/`` is on ``sys.path`` when a script
runs (``tests/conftest.py`` adds it for the tests)."""
