"""LoRA adapters added to and removed from running models (the admin API and the console's Models page),
kept in the adapter registry so that the next start serves them too, and written to the audit log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from deepfort import catalog
from deepfort.access.audit import AuditLog
from deepfort.config import LoraAdapter
from deepfort.errors import ConfigError, InvalidRequestError, ModelNotFoundError
from deepfort.serving.pool import ModelPool, ServedModel


@dataclass(frozen=True, slots=True)
class AdapterChange:
    served: ServedModel
    adapter: LoraAdapter
    registered: bool
    """Kept in (or removed from) the adapter registry; a config file's adapter is neither, and comes
    back at the next start."""

    @property
    def model_id(self) -> str:
        return self.served.adapter_id(self.adapter.name)


class AdapterService:
    def __init__(self, pool: ModelPool, data_dir: Path, audit: AuditLog) -> None:
        self.pool = pool
        self.data_dir = data_dir
        self.audit = audit

    async def add(self, model: str, adapter: LoraAdapter, *, actor: str, keep: bool = True) -> AdapterChange:
        """Load ``adapter`` on ``model`` now; ``keep``: and at every start from now on."""
        served = self.pool.get(model)
        engine = served.lora_engine()
        path = adapter.path.expanduser().resolve()
        if not path.is_file():
            raise InvalidRequestError(f"no file at {path}", param="path", code="adapter_file_missing")
        adapter = adapter.model_copy(update={"path": path})
        if served.adapter_id(adapter.name) in self.pool:
            raise InvalidRequestError(
                f"the model id {served.adapter_id(adapter.name)!r} is taken",
                param="name",
                code="adapter_exists",
            )
        try:
            await engine.add_adapter(adapter)
        except ConfigError as exc:
            raise InvalidRequestError(exc.message, param="path") from None
        registered = False
        if keep:
            try:
                await asyncio.to_thread(
                    catalog.add_adapter, self.data_dir, served.id, adapter, source="added"
                )
                registered = True
            except ConfigError:  # registered before (then removed from this run only): it stays registered
                registered = True
        detail = {"model": served.id, "adapter": adapter.name, "path": str(path), "scale": adapter.scale}
        await asyncio.to_thread(self.audit.append, actor, "model.adapter.add", detail)
        return AdapterChange(served, adapter, registered)

    async def remove(self, model: str, name: str, *, actor: str) -> AdapterChange:
        """Stop serving the adapter ``name`` of ``model`` (requests using it finish first) and forget it."""
        served = self.pool.get(model)
        engine = served.lora_engine()
        adapter = next((a for a in engine.adapters() if a.name == name), None)
        if adapter is None:
            raise ModelNotFoundError(f"model {served.id} has no adapter named {name!r}")
        await engine.remove_adapter(name)
        entry = await asyncio.to_thread(catalog.remove_adapter, self.data_dir, served.id, name)
        await asyncio.to_thread(
            self.audit.append, actor, "model.adapter.remove", {"model": served.id, "adapter": name}
        )
        return AdapterChange(served, adapter, entry is not None)
