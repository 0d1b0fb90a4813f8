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

"""Upstream hygiene: the Apache-2.0 licence of setup.py is in LICENSE, and every source file carries its header."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = ("# Licensed under the Apache License, Version 2.0 (the \"License\");",
          "http://www.apache.org/licenses/LICENSE-2.0")
SOURCES = ("nemo_distill", "scripts", "tests", "setup.py")


def _python_files():
    for entry in SOURCES:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            yield path
        for folder, _, files in os.walk(path):
            yield from (os.path.join(folder, name) for name in sorted(files) if name.endswith(".py"))


def test_license_file_is_apache_2_as_setup_py_says():
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        assert 'license="Apache-2.0"' in f.read()


def test_every_source_file_has_the_apache_header():
    missing = []
    for path in _python_files():
        with open(path, encoding="utf-8") as f:
            head = f.read(1500)
        if not all(line in head for line in HEADER) or "Copyright" not in head:
            missing.append(os.path.relpath(path, ROOT))
    assert missing == []
