"""One deepfort node's services: local models, the centers it forwards to, the router, and (on a center)
the gRPC service. ``build_app`` and the in-process ``deepfort chat`` both start a node."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Sequence

import grpc

from deepfort.access.audit import AuditLog
from deepfort.access.auth import AuthService
from deepfort.access.limits import make_counters
from deepfort.access.master import load_master, master_key_path, open_store
from deepfort.aigc.runs import RunService
from deepfort.aigc.runs.artefacts import NodeArtefacts
from deepfort.aigc.workflow import default_registry
from deepfort.aigc.workflow.nodes.llm import ServingChat
from deepfort.aigc.workflow.nodes.services import MediaServices
from deepfort.cluster.client import RemoteEngine
from deepfort.cluster.keys import load_keyring, node_secret
from deepfort.cluster.server import ClusterService, start_grpc_server
from deepfort.config import LocalModel, ModelSpec, Settings, UpstreamModel
from deepfort.engines.upstream import UpstreamEngine
from deepfort.errors import ConfigError, DeepfortError
from deepfort.evals.service import EvalService
from deepfort.observability.alerts import AlertEvaluator
from deepfort.observability.metrics import Metrics
from deepfort.observability.metrics_server import MetricsServer, start_metrics_server
from deepfort.routing.centers import CenterPool
from deepfort.routing.router import Router
from deepfort.serving.accuracy import AccuracyTracker
from deepfort.serving.adapters import AdapterService
from deepfort.serving.context import ServingContext
from deepfort.serving.guarding import Guards
from deepfort.serving.layers.audit import AuditLayer
from deepfort.serving.layers.conversation import ConversationLayer
from deepfort.serving.layers.metrics import MetricsLayer
from deepfort.serving.layers.moderation import ModerationLayer
from deepfort.serving.layers.pii import PiiLayer
from deepfort.serving.layers.quota import QuotaLayer
from deepfort.serving.layers.records import RecordsLayer
from deepfort.serving.pipeline import ChatPipeline
from deepfort.serving.pool import ModelPool
from deepfort.serving.tokenize import TokenizeService

log = logging.getLogger(__name__)


def _upstream(config: UpstreamModel) -> UpstreamEngine:
    api_key = None
    if config.api_key_env:
        api_key = os.environ.get(config.api_key_env)
        if api_key is None:
            raise ConfigError(f"model {config.id}: environment variable {config.api_key_env} is not set")
    return UpstreamEngine(config.upstream, api_key=api_key, think_in_content=config.think_in_content)


class Node:
    def __init__(self, settings: Settings, models: Sequence[ModelSpec]) -> None:
        self.settings = settings
        local = [m for m in models if isinstance(m, LocalModel)]
        upstream = [m for m in models if isinstance(m, UpstreamModel)]
        self.pool = ModelPool(local, settings.server)
        routing = settings.routing
        self.centers = CenterPool(routing.health, routing.breaker)
        for config in upstream:
            wire = config.upstream_model or config.id
            center = self.centers.add(_upstream(config), names={name: wire for name in config.names})
            center.sampling = dict.fromkeys(config.names, config.sampling_defaults)
        if settings.centers:
            if settings.role != "edge":
                raise ConfigError("`centers` are only used by an edge: start with --role edge")
            keyring = load_keyring(settings.cluster, settings.data_dir)
            secret = node_secret(settings.cluster)
            for url in settings.centers:
                self.centers.add(RemoteEngine(url, keyring, secret, settings.cluster.tls))

        def names() -> list[str]:
            return [name for served in self.pool for name in served.names]

        self.router = Router(
            routing,
            edge=settings.role == "edge" or bool(upstream),
            local_models=names,
            centers=self.centers,
        )
        self.store = open_store(settings)
        self.audit = AuditLog(self.store)
        self.adapters = AdapterService(self.pool, settings.data_dir, self.audit)
        self.auth = AuthService(
            self.store,
            self.audit,
            make_counters(settings.security.redis_url),
            listen_host=settings.server.host,
            insecure_no_auth=settings.security.insecure_no_auth,
        )
        self.metrics = Metrics()
        self.metrics.engine_source(self._engine_state)
        self.accuracy = AccuracyTracker(self.store, self.metrics, settings.observability.accuracy_window)
        self.alerts = AlertEvaluator(
            self.metrics, settings.observability.alert_rules, settings.observability.alert_interval_s
        )
        self.centers.on_state = self.metrics.center_state
        self.guards = Guards(settings.guard)
        self.context = ServingContext(
            pool=self.pool,
            server=settings.server,
            router=self.router,
            routing=routing,
        )
        self.pipeline = ChatPipeline(
            self.context,
            [
                QuotaLayer(self.auth),
                PiiLayer(self.guards),
                ConversationLayer(self.store),
                ModerationLayer(self.guards),
                RecordsLayer(self.store),
                MetricsLayer(self.metrics),
                AuditLayer(self.audit),
            ],
        )
        # Workflow nodes reach the models through this node's chat pipeline (local, routed or center),
        # and keep their files in the run service's artefact store: its registry gets the services after.
        registry = default_registry()
        self.runs = RunService(self.store, settings.data_dir, registry=registry, settings=settings.workflows)
        registry.services = MediaServices(
            artefacts=NodeArtefacts(self.runs.artefacts),
            chat=ServingChat(self.pipeline, default_model=settings.routing.default_model),
            http_allowed_hosts=frozenset(settings.workflows.http_allowed_hosts),
            http_timeout_s=settings.workflows.http_timeout_s,
        )
        # Eval runs started over the API (POST /v1/evals): their files under the data dir, scores on a gauge.
        self.evals = EvalService(settings.data_dir / "evals", self.metrics.eval_score)
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_server: MetricsServer | None = None
        self.tokenize = TokenizeService(self.context)

    def _engine_state(self) -> Iterator[tuple[str, int, int, float]]:
        for served in self.pool:
            if served.ready:
                stats = served.engine.stats()
                usage = stats.kv_cells_used / stats.kv_cells_total if stats.kv_cells_total else 0.0
                yield served.id, stats.running, stats.waiting, usage

    async def start(self) -> None:
        await self.auth.refresh()
        await self.accuracy.reload()
        await self.centers.start()
        await self.runs.start()
        await self.evals.start()
        port = self.settings.observability.metrics_port
        if port is not None:
            self._metrics_server = start_metrics_server(self.metrics, port, self.settings.server.host)
        self._tasks = [
            asyncio.create_task(self._watch_master()),
            asyncio.create_task(self.accuracy.run()),
            asyncio.create_task(self.alerts.run()),
        ]

    async def _watch_master(self) -> None:
        """Reload the master keyring when its file changes (``deepfort keys rotate-master``)."""
        path = master_key_path(self.settings)
        seen = path.stat().st_mtime_ns if path.exists() else 0
        while True:
            await asyncio.sleep(2)
            mtime = path.stat().st_mtime_ns if path.exists() else 0
            if mtime != seen:
                seen = mtime
                try:
                    self.store.use_master(load_master(self.settings, create=False))
                    log.info("master keyring reloaded")
                except DeepfortError as exc:
                    log.error("master keyring reload failed: %s", exc.message)

    async def close(self) -> None:
        await self.evals.close()  # first: its requests need the pool
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._metrics_server is not None:
            self._metrics_server.close()
        self.metrics.close()
        await self.centers.close()
        await self.pool.close()
        await self.auth.counters.close()
        await self.runs.close()
        await self.guards.close()
        self.store.close()


async def start_center(node: Node, settings: Settings) -> grpc.aio.Server:
    """Serve the cluster gRPC service for edges (role ``center``)."""
    service = ClusterService(
        node.pipeline,
        node.pool,
        load_keyring(settings.cluster, settings.data_dir),
        node_secret(settings.cluster),
        settings.cluster.replay_window_s,
    )
    server, _ = await start_grpc_server(service, settings.cluster)
    return server
