"""Shared session fixtures for every stage's tests.

- ``data_dir``: the real shared data (../shared/data or $BUNDLEBOT_DATA).
- ``embedder``: the real packaged all-MiniLM-L6-v2 (loaded once); ``hash_embedder``: the fast fake.
- ``chroma_server``: a REAL ``chroma run`` on loopback for the session, yields (host, port).
- ``app_config``: an AppConfig whose home is a fresh tmp folder (real embedder, embedded store).
- ``online_retail``: the loaded online-retail SourceData (with its README splits).
- ``demo_retriever`` / ``demo_config`` / ``demo_shoppers``: the demo shop (online-retail, ~3.6k items, real
  MiniLM vectors, co-purchase stats, history of ``demo_shoppers``) indexed once per session.
- ``store_mode``: parametrizes a test over ``embedded`` and ``http`` (server) stores;
  ``store_config`` gives the matching StoreConfig.
- ``tiny_model_dir``: a tiny random Llama with the REAL SmolLM2 tokenizer (tests/tiny_lm.py), saved to disk;
  ``ft_app_config``: a fresh home with the fast hash embedder (``index_small`` indexes BundleRec food in it in
  seconds); ``real_examples``: a handful of REAL training examples from the builder (BundleRec food train
  bundles through a real Chroma index, the real Retriever and the shared prompt files);
  ``small_train_config``: a training config that runs in seconds.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TQDM_DISABLE", "1")
# Tests never write into the user's ~/.bundlebot: the converted generator and the embedding cache they share
# live in the project's .bundlebot-test/ (gitignored), so a second local run reuses them.
os.environ.setdefault("BUNDLEBOT_HOME", str(__import__("pathlib").Path(__file__).resolve().parent.parent
                                            / ".bundlebot-test"))

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from bundlebot.config import AppConfig  # noqa: E402
from bundlebot.config.retrieval import EmbedderConfig, RetrievalConfig, StoreConfig  # noqa: E402
from bundlebot.paths import default_data_dir  # noqa: E402

DEMO_SHOP = "demo"
N_DEMO_SHOPPERS = 150
"""History is written for this many shoppers (those with a test invoice, smallest ids first): the whole
history (~250k shopper-item entries) takes minutes to write; this keeps the session fixture ~1 minute."""


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = default_data_dir()
    assert path.is_dir(), f"shared data expected at {path}; set BUNDLEBOT_DATA"
    return path


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embeddings import make_embedder

    return make_embedder(EmbedderConfig())


@pytest.fixture(scope="session")
def hash_embedder():
    from retrieval.embeddings import HashEmbedder

    return HashEmbedder(dim=64)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chroma_binary() -> str:
    local = Path(sys.executable).parent / "chroma"
    return str(local) if local.exists() else "chroma"


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real Chroma server (``chroma run``) on loopback; yields (host, port) and stops it afterwards."""
    host, port = "127.0.0.1", _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed in the teardown below
    proc = subprocess.Popen([_chroma_binary(), "run", "--path", str(folder / "db"), "--host", host,
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "server.log").read_text()[-2000:]
                raise RuntimeError(f"chroma server did not start: {tail}")
            time.sleep(0.2)
        yield host, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def app_config(tmp_path_factory) -> AppConfig:
    """A default AppConfig with its home in a fresh tmp folder."""
    return AppConfig(home=str(tmp_path_factory.mktemp("home")))


@pytest.fixture(params=["embedded", "http"])
def store_mode(request) -> str:
    return request.param


@pytest.fixture
def store_config(store_mode, request) -> StoreConfig:
    if store_mode == "http":
        host, port = request.getfixturevalue("chroma_server")
        return StoreConfig(mode="http", host=host, port=port)
    return StoreConfig(mode="embedded")


@pytest.fixture(scope="session")
def online_retail(data_dir):
    """The online-retail SourceData (catalog, train events/baskets, dev/test), loaded once."""
    from retrieval.importers import load_source

    return load_source("online-retail", data_dir)


@pytest.fixture(scope="session")
def demo_shoppers(online_retail) -> list[str]:
    return sorted({b.shopper_id for b in online_retail.test if b.shopper_id})[:N_DEMO_SHOPPERS]


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory, embedder, demo_shoppers, online_retail) -> AppConfig:
    """The AppConfig of the demo shop; the shop is indexed once here (real MiniLM, online-retail)."""
    from retrieval.index import index_source

    home = tmp_path_factory.mktemp("demo-home")
    shared = Path(os.environ["BUNDLEBOT_HOME"])
    for sub in ("models", "embeddings"):  # one model conversion / one embedding pass for every test home
        (shared / sub).mkdir(parents=True, exist_ok=True)
        (home / sub).symlink_to(shared / sub, target_is_directory=True)
    cfg = AppConfig(home=str(home), retrieval=RetrievalConfig(embedder=EmbedderConfig()))
    report = index_source(cfg, "online-retail", DEMO_SHOP, progress=False, shoppers=set(demo_shoppers),
                          embedder=embedder, data=online_retail)
    assert report.valid > 3000 and report.history_total > 0, report.summary()
    return cfg


@pytest.fixture(scope="session")
def demo_retriever(demo_config, embedder):
    """Retriever of the shared demo shop (shop name ``demo``)."""
    from retrieval.search import Retriever

    return Retriever.open(demo_config, DEMO_SHOP, embedder=embedder)


# ---- a tiny causal LM and real training examples (fine-tuning and the LLM evaluation) ----------------------
@pytest.fixture(scope="session")
def smol_tokenizer_dir() -> Path:
    from tests.tiny_lm import smollm2_tokenizer_dir

    return smollm2_tokenizer_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer_dir: Path) -> Path:
    from tests.tiny_lm import save_tiny_lm

    return save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), smol_tokenizer_dir, seed=0)


@pytest.fixture(scope="session")
def ft_app_config(tmp_path_factory: pytest.TempPathFactory):
    """A fresh data home with the fast hash embedder (a real Chroma store, the real shared data)."""
    from bundlebot.config import AppConfig
    from bundlebot.config.retrieval import EmbedderConfig, RetrievalConfig

    home = tmp_path_factory.mktemp("bb-home")
    return AppConfig(home=str(home), retrieval=RetrievalConfig(embedder=EmbedderConfig(kind="hash")))


def index_small(app, shop: str) -> None:
    """Index a shop from the train data (BundleRec food only: its 3.8k items index in seconds)."""
    from retrieval.index import index_source

    assert shop == "bundlerec-food", "the fine-tuning tests index only the small BundleRec food shop"
    index_source(app, "bundlerec-food", shop, progress=False, shoppers=())  # bundle intents need no history


@pytest.fixture(scope="session")
def small_train_config():
    from finetune.config import DataSettings, OptimSettings, TrainConfig

    data = DataSettings(sources=["bundlerec-food"], choice_examples={"bundlerec-food": 10}, explain_examples=3,
                        dev_examples=4, max_length=1024, seed=0)
    opt = OptimSettings(lr=5e-3, batch_size=2, grad_accum=2, epochs=1, warmup_steps=1, eval_every=2,
                        checkpoint_every=2, time_budget_min=None)
    return TrainConfig(data=data, train=opt)


@pytest.fixture(scope="session")
def real_examples(tmp_path_factory, ft_app_config, small_train_config, smol_tokenizer_dir) -> tuple[Path, dict]:
    """Real examples from the builder: BundleRec food TRAIN bundles through the real Retriever + prompts."""
    from transformers import AutoTokenizer

    from finetune.data import build_dataset

    out = tmp_path_factory.mktemp("ft-data")
    tok = AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    info = build_dataset(small_train_config, ft_app_config, out, tok, progress=False, ensure_index=index_small)
    return out, info
