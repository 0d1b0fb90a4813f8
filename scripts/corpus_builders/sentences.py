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

"""English sentences for a synthetic TTS corpus: a seeded template generator and a reader for a user's text file.

:func:`generate_sentences` fills ~50 sentence templates (statements, questions, exclamations, clauses with
numbers, times and places) from word lists of over 500 distinct words, so a few hundred sentences cover most
English phonemes in varied contexts. It is deterministic for a seed, never repeats a sentence within one call and
is prefix-stable: ``generate_sentences(n, seed)[:m] == generate_sentences(m, seed)`` for ``m <= n``.

:func:`read_sentences` reads one sentence per line from a UTF-8 file (blank lines skipped).
No NeMo or torch import: this module loads in milliseconds.
"""

import random
import re
from pathlib import Path
from typing import Dict, List, Tuple, Union

__all__ = ["MIN_WORDS", "MAX_WORDS", "generate_sentences", "read_sentences", "vocabulary", "word_count"]

MIN_WORDS = 5
MAX_WORDS = 14

# Word lists, by slot name. Each template below draws from these.
WORDS: Dict[str, Tuple[str, ...]] = {
    "name": (
        "Anna", "Ben", "Clara", "David", "Elena", "Frank", "Grace", "Henry", "Irene", "Jack", "Karen", "Leo",
        "Maria", "Nathan", "Olivia", "Peter", "Quentin", "Rachel", "Samuel", "Tara", "Victor", "Wendy", "Yusuf",
        "Zoe", "Martin", "Julia", "Oscar", "Nina", "George", "Helen",
    ),
    "person": (
        "teacher", "farmer", "doctor", "pilot", "baker", "student", "neighbor", "painter", "driver", "nurse",
        "captain", "gardener", "engineer", "librarian", "musician", "sailor", "writer", "child", "stranger",
        "chef", "police officer", "shopkeeper", "grandmother", "old man", "young woman", "soldier", "waiter",
        "scientist", "fisherman", "photographer",
    ),
    "animal": (
        "dog", "cat", "horse", "rabbit", "fox", "owl", "goat", "duck", "mouse", "bear", "wolf", "deer", "sheep",
        "pigeon", "squirrel", "turtle", "donkey", "parrot", "frog", "swan",
    ),
    "thing": (
        "book", "lamp", "letter", "basket", "bicycle", "umbrella", "window", "kettle", "ladder", "mirror",
        "blanket", "camera", "violin", "suitcase", "bottle", "candle", "map", "clock", "hammer", "newspaper",
        "guitar", "wallet", "jacket", "key", "envelope", "notebook", "pencil", "spoon", "bucket", "radio",
        "telescope", "backpack", "sandwich", "cake", "ticket", "painting", "pillow", "rope", "shovel", "box",
    ),
    "place": (
        "kitchen", "garden", "station", "library", "market", "harbor", "village", "forest", "valley", "bakery",
        "museum", "hospital", "school", "office", "church", "bridge", "river", "beach", "mountain", "park",
        "factory", "airport", "hotel", "theater", "cellar", "attic", "stadium", "island", "desert", "meadow",
        "castle", "farm", "square", "cafe", "tunnel",
    ),
    "city": (
        "Boston", "Denver", "Chicago", "Seattle", "Houston", "Portland", "Atlanta", "Phoenix", "Dallas", "Miami",
        "London", "Paris", "Berlin", "Madrid", "Dublin", "Vienna", "Lisbon", "Oslo", "Toronto", "Sydney",
    ),
    "adjective": (
        "small", "large", "old", "new", "bright", "dark", "quiet", "noisy", "heavy", "light", "warm", "cold",
        "strange", "famous", "broken", "shiny", "dusty", "wooden", "narrow", "wide", "gentle", "clever", "lazy",
        "curious", "careful", "friendly", "angry", "sleepy", "hungry", "tired", "beautiful", "ugly", "simple",
        "expensive", "cheap", "empty", "crowded", "muddy", "frozen", "golden", "silver", "rusty", "modern",
        "ancient", "tiny", "enormous", "fragile", "soft", "rough", "smooth", "purple", "yellow", "green", "blue",
        "red", "orange", "brown", "pale", "lucky", "secret",
    ),
    "state": (
        "happy", "nervous", "excited", "worried", "calm", "surprised", "confused", "proud", "grateful", "ready",
        "busy", "sick", "afraid", "lonely", "relieved", "impatient", "certain", "honest", "awake", "late",
    ),
    "verb_past": (
        "found", "lost", "carried", "painted", "opened", "closed", "repaired", "borrowed", "bought", "sold",
        "dropped", "cleaned", "hid", "lifted", "moved", "washed", "wrapped", "stole", "returned", "noticed",
        "forgot", "described", "measured", "delivered", "packed", "weighed", "touched", "pushed", "pulled",
        "examined", "replaced", "ordered", "shared", "collected", "photographed", "polished", "folded",
        "dragged", "offered", "ignored",
    ),
    "verb_intrans_past": (
        "laughed", "waited", "slept", "smiled", "shouted", "whispered", "arrived", "left", "danced", "sang",
        "worked", "listened", "paused", "trembled", "stumbled", "wandered", "returned home", "fell asleep",
        "sighed", "coughed", "hurried", "complained", "knocked twice", "stayed", "disappeared",
    ),
    "verb_base": (
        "find", "carry", "paint", "open", "repair", "borrow", "buy", "clean", "hide", "lift", "move", "wash",
        "wrap", "return", "describe", "measure", "deliver", "pack", "examine", "replace", "order", "share",
        "collect", "polish", "fold", "check", "bring", "keep", "explain", "choose",
    ),
    "verb_ing": (
        "reading", "cooking", "singing", "running", "swimming", "writing", "walking", "fishing", "sleeping",
        "drawing", "studying", "climbing", "knitting", "dancing", "gardening", "skating", "shopping", "sailing",
        "painting", "practicing",
    ),
    "adverb": (
        "slowly", "quickly", "quietly", "loudly", "carefully", "suddenly", "happily", "sadly", "gently",
        "politely", "proudly", "nervously", "patiently", "eagerly", "calmly", "secretly", "boldly", "bravely",
        "gracefully", "reluctantly", "silently", "cheerfully", "anxiously", "clumsily", "rarely",
    ),
    "time": (
        "yesterday", "today", "last night", "this morning", "on Monday", "on Tuesday", "on Wednesday",
        "on Thursday", "on Friday", "on Saturday", "on Sunday", "in January", "in March", "in April", "in June",
        "in August", "in October", "in December", "at noon", "at midnight", "after lunch", "before dinner",
        "every evening", "last summer", "next winter", "at dawn", "in the spring", "during the storm",
        "after the concert", "before sunrise",
    ),
    "number": (
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen",
        "twenty", "thirty", "forty", "fifty", "a hundred", "a dozen", "several", "many",
    ),
    "food": (
        "apples", "bread", "cheese", "soup", "rice", "oranges", "potatoes", "cookies", "noodles", "honey",
        "coffee", "tea", "lemonade", "pancakes", "carrots", "tomatoes", "grapes", "chocolate", "salad", "eggs",
    ),
    "weather": (
        "rain", "snow", "wind", "fog", "thunder", "sunshine", "hail", "frost", "heat", "drizzle",
    ),
    "hour": (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    ),
    "prep": (
        "near", "behind", "under", "beside", "inside", "outside", "above", "across from", "next to", "opposite",
    ),
    "connector": (
        "because", "although", "while", "after", "before", "since", "when", "until", "unless", "so that",
    ),
    "opinion": (
        "believes", "thinks", "knows", "says", "suspects", "hopes", "remembers", "claims", "feels", "doubts",
    ),
}

# Templates: {slot} or {slot2} (a second, different draw from the same list); {slot:pl} is the plural. A trailing
# punctuation mark is part of the template. Capitalisation of the first letter is applied afterwards.
TEMPLATES: Tuple[str, ...] = (
    "{name} {verb_past} the {adjective} {thing} {time}.",
    "The {person} {verb_past} a {adjective} {thing} {prep} the {place}.",
    "{name} and {name2} {verb_intrans_past} {prep} the {place} {time}.",
    "The {adjective} {animal} {verb_intrans_past} {adverb} in the {place}.",
    "Why did the {person} {verb_base} the {thing} {time}?",
    "Did you see the {adjective} {animal} {prep} the {place}?",
    "Please {verb_base} the {thing} before the {person} arrives.",
    "We bought {number} bags of {food} at the {place} {time}.",
    "There were {number} {adjective} {thing:pl} on the table in the {place}.",
    "{name} was {state} {connector} the {thing} was {adjective}.",
    "The train to {city} leaves at {hour} o'clock {time}.",
    "My {person} {opinion} that the {place} is too {adjective}.",
    "{name} {opinion} the {animal} {verb_intrans_past} {prep} the {thing}.",
    "What a {adjective} {thing} you have, {name}!",
    "The {weather} kept everyone inside the {place} {time}.",
    "{name} spent the afternoon {verb_ing} near the {adjective} {place}.",
    "Nobody {verb_past} the {thing} {connector} the {person} was {state}.",
    "Is the {place} in {city} open {time}?",
    "The {person} {adverb} {verb_past} {number} {adjective} {thing:pl}.",
    "After the {weather}, the {place} looked {adjective} and {adjective2}.",
    "{name} likes {food} with {food2} for breakfast.",
    "I have never seen such a {adjective} {animal} before!",
    "The {animal} {verb_intrans_past} {connector} the {person} {verb_intrans_past2}.",
    "Could you {verb_base} my {thing} while I am in {city}?",
    "Every {person} in the {place} {verb_intrans_past} {adverb}.",
    "{name} {adverb} {verb_past} the {thing} and {verb_intrans_past}.",
    "The {adjective} {place} {prep} the {place2} belongs to {name}.",
    "Only {number} people came to the {place} {time}.",
    "When the {weather} stopped, {name} went {verb_ing} again.",
    "The {person} from {city} {verb_past} a {thing} for {name}.",
    "Which {thing} did {name} {verb_base} {time}?",
    "Keep the {thing} {prep} the {thing2} and stay {state}.",
    "It is {hour} o'clock, and the {person} is still {verb_ing}.",
    "{name} felt {state} when the {animal} {verb_intrans_past}.",
    "A {adjective} {thing} was hidden {prep} the {adjective2} {thing2}.",
    "They drove from {city} to {city2} {time}.",
    "The {person} {opinion} {name} will {verb_base} the {thing} {adverb}.",
    "Why was the {animal} so {state} {time}?",
    "Stop that {adjective} {animal}!",
    "{name} {verb_intrans_past} {adverb}.",
    "The {thing} is {adjective}.",
    "Where is my {adjective} {thing}?",
    "Thank you, {name}, for the {food}.",
    "{name} {opinion} that the {adjective} {person} {verb_past} the {thing} {prep} the {place}.",
    "{connector} the {weather} began, the {adjective} {person} {adverb} {verb_past} the {thing} {time}.",
    "Although there was {weather} outside, {name} and the {person} {verb_past} {number} {thing:pl} {time}.",
    "On the way to {city}, the {person} and {name} stopped at a {adjective} {place} for {food}.",
    "The soup tasted of {food} and {food2}, said the {person}.",
    "{name}, the {adjective} {person}, {verb_intrans_past} {adverb} {time}.",
    "Bring {number} {thing:pl} and some {food} to the {place}.",
    "The {adjective} {person} {verb_past} the {animal} {prep} the {place}.",
)

_SLOT = re.compile(r"\{([a-z_]+?)(\d?)(:pl)?\}")
_LETTER = re.compile(r"[^\W\d_]")


def word_count(sentence: str) -> int:
    """Number of whitespace-separated words in ``sentence``."""
    return len(sentence.split())


def vocabulary(sentences: List[str]) -> set:
    """The set of distinct lower-case words (letters and apostrophes) in ``sentences``."""
    return {w for s in sentences for w in re.findall(r"[a-z']+", s.lower())}


def _plural(noun: str) -> str:
    """English plural of a regular noun: box -> boxes, key -> keys, party -> parties."""
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _fill(template: str, rng: random.Random) -> str:
    chosen: Dict[str, str] = {}

    def draw(match: "re.Match") -> str:
        slot, suffix = match.group(1), match.group(2)
        key = slot + suffix
        if key not in chosen:
            # A numbered slot (``{food2}``) differs from its unnumbered sibling when the list allows it.
            taken = {v for k, v in chosen.items() if k.rstrip("0123456789") == slot}
            options = [w for w in WORDS[slot] if w not in taken] or list(WORDS[slot])
            chosen[key] = rng.choice(options)
        return _plural(chosen[key]) if match.group(3) else chosen[key]

    text = _SLOT.sub(draw, template)
    text = re.sub(r"\ba ([aeiouAEIOU])", r"an \1", text)  # "a old lamp" -> "an old lamp"
    text = re.sub(r"\bA ([aeiouAEIOU])", r"An \1", text)
    return text[0].upper() + text[1:]


def generate_sentences(num_sentences: int, seed: int = 0, max_attempts_per_sentence: int = 200) -> List[str]:
    """``num_sentences`` distinct English sentences of ``MIN_WORDS``..``MAX_WORDS`` words, deterministic for ``seed``.

    Sentences are drawn one by one (template, then words) from ``random.Random(seed)``; too short/long or repeated
    draws are discarded, so the list is prefix-stable across ``num_sentences``. Raises ``ValueError`` if a sentence
    cannot be found in ``max_attempts_per_sentence`` draws (only for far more sentences than the grammar can make).
    """
    if num_sentences < 0:
        raise ValueError(f"num_sentences must be >= 0, got {num_sentences}")
    rng = random.Random(seed)
    out: List[str] = []
    seen = set()
    while len(out) < num_sentences:
        for _ in range(max_attempts_per_sentence):
            sentence = _fill(rng.choice(TEMPLATES), rng)
            if MIN_WORDS <= word_count(sentence) <= MAX_WORDS and sentence not in seen:
                break
        else:
            raise ValueError(f"could not generate {num_sentences} distinct sentences (stuck after {len(out)})")
        seen.add(sentence)
        out.append(sentence)
    return out


def read_sentences(path: Union[str, Path]) -> List[str]:
    """Sentences from a UTF-8 text file, one per line; blank lines skipped, inner whitespace collapsed.

    Raises ``ValueError`` for a file with no sentences, or naming the line number of a line with no letters
    (e.g. only digits or punctuation, which a TTS engine cannot read as words).
    """
    path = Path(path)
    sentences = []
    with open(path, "r", encoding="utf-8-sig") as f:
        for line_number, line in enumerate(f, start=1):
            text = " ".join(line.split())
            if not text:
                continue
            if not _LETTER.search(text):
                raise ValueError(f"{path}:{line_number}: line has no letters, not a sentence: {text!r}")
            sentences.append(text)
    if not sentences:
        raise ValueError(f"{path}: no sentences (the file is empty or has only blank lines)")
    return sentences
