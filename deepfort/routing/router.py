"""The routing decision: which model and tier answer a request, and why.

``model: "auto"`` is routed by the complexity classifier: simple questions stay on the edge's own model,
complex ones go to the least-loaded available center. An explicit model id goes where that model lives:
this node's pool first, then the centers that serve it. When no center can take a routed question, the
edge answers it and marks the route degraded (unless ``routing.fallback`` is off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deepfort.config import RoutingSettings
from deepfort.errors import CenterUnavailableError, ModelNotFoundError
from deepfort.routing.centers import Center, CenterPool
from deepfort.routing.classifier import ComplexityClassifier
from deepfort.routing.route import Route, Tier

AUTO = "auto"


@dataclass(frozen=True)
class Plan:
    """What to run: the local model ``local`` or ``center`` (asked for ``wire_model``)."""

    route: Route
    local: str | None = None
    center: Center | None = None
    wire_model: str | None = None
    routed: bool = False
    """Chosen by complexity (not named by the client): a failing center may then fall back to the edge."""


def question_of(messages: Sequence[dict[str, object]]) -> tuple[str, int]:
    """The last user message's text and the number of user turns before it."""
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        return "", 0
    content = users[-1].get("content")
    return (content if isinstance(content, str) else ""), len(users) - 1


class Router:
    def __init__(
        self,
        settings: RoutingSettings,
        *,
        edge: bool,
        local_models: Callable[[], list[str]],
        centers: CenterPool,
        classifier: ComplexityClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.edge_role = edge
        self.local_models = local_models
        self.centers = centers
        self.classifier = classifier or ComplexityClassifier()

    @property
    def edge(self) -> bool:
        """This node routes: it is an edge and knows at least one center."""
        return self.edge_role and bool(self.centers)

    def edge_model(self) -> str:
        return self.settings.edge_model or self.local_models()[0]

    def model_names(self) -> list[str]:
        """Every model id a client may ask for, ``auto`` first."""
        names = [AUTO, *self.local_models()]
        names.extend(n for n in self.centers.known_models() if n not in names)
        return names

    def plan(self, model: str | None, messages: Sequence[dict[str, object]]) -> Plan:
        if model is None:
            model = self.settings.default_model
        if model == AUTO:
            return self._auto(messages)
        if model in self.local_models():
            return Plan(Route(tier=self._tier(), model=model, reason="requested model"), local=model)
        if self.centers.serving(model):
            center = self.centers.pick(model)
            if center is None:
                raise CenterUnavailableError(
                    f"every center serving `{model}` is down or refusing work", retry_after=5
                )
            route = Route(tier="center", model=model, reason="requested model", target=center.target)
            return Plan(route, center=center, wire_model=center.names[model])
        raise ModelNotFoundError(
            f"The model `{model}` does not exist. Served models: {', '.join(self.model_names())}",
            param="model",
        )

    def _tier(self) -> Tier:
        return "edge" if self.edge else "local"

    def _auto(self, messages: Sequence[dict[str, object]]) -> Plan:
        edge_model = self.edge_model()
        if not self.edge:
            route = Route(tier="local", model=edge_model, reason="auto: no centers configured")
            return Plan(route, local=edge_model)
        question, turns = question_of(messages)
        verdict = self.classifier.assess(question, turns)
        threshold = self.settings.complexity_threshold
        why = ", ".join(verdict.reasons) or "no cues"
        if verdict.score < threshold:
            reason = f"simple: {verdict.score:.2f} < {threshold:.2f} ({why})"
            return Plan(
                Route(tier="edge", model=edge_model, reason=reason, score=verdict.score), local=edge_model
            )
        reason = f"complex: {verdict.score:.2f} >= {threshold:.2f} ({why})"
        wanted = self.settings.center_model
        center = self.centers.pick(wanted)
        if center is None:
            route = Route(tier="center", model=wanted or "center", reason=reason, score=verdict.score)
            return self.fallback(route, "no center available")
        wire = center.names.get(wanted, wanted) if wanted else center.default_model
        if wire is None:
            route = Route(tier="center", model="center", reason=reason, score=verdict.score)
            return self.fallback(route, "center lists no models")
        route = Route(
            tier="center", model=wanted or wire, reason=reason, score=verdict.score, target=center.target
        )
        return Plan(route, center=center, wire_model=wire, routed=True)

    def fallback(self, route: Route, why: str) -> Plan:
        """Answer on the edge instead of the center, marked degraded; or refuse when fallback is off."""
        if not self.settings.fallback:
            raise CenterUnavailableError(f"no center can answer: {why}", retry_after=5)
        edge_model = self.edge_model()
        return Plan(route.fallen_back(edge_model, why), local=edge_model)
