"""The dependency graph of one (sub-)workflow: successors, predecessors, cycles, ancestry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.spec import NodeSpec, SubGraph


@dataclass
class Graph:
    nodes: tuple[str, ...]
    successors: dict[str, list[str]] = field(default_factory=dict)
    predecessors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> Graph:
        graph = cls(tuple(nodes), {n: [] for n in nodes}, {n: [] for n in nodes})
        for source, target in edges:
            if target not in graph.successors[source]:
                graph.successors[source].append(target)
                graph.predecessors[target].append(source)
        return graph

    def find_cycle(self) -> list[str] | None:
        """One cycle as a path that starts and ends on the same node, or None."""
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            stack.append(node)
            for nxt in self.successors[node]:
                if state.get(nxt) == 1:
                    return [*stack[stack.index(nxt) :], nxt]
                if nxt not in state and (cycle := visit(nxt)) is not None:
                    return cycle
            stack.pop()
            state[node] = 2
            return None

        for node in self.nodes:
            if node not in state and (cycle := visit(node)) is not None:
                return cycle
        return None

    def ancestors(self, node: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.predecessors[node])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.predecessors[current])
        return seen


def build_graph(sub: SubGraph, registry: NodeRegistry) -> Graph:
    """The graph of a sub-workflow: its edges plus the implied ones (a condition to its `then`/`else`,
    a node to its fail branch). Names that are not nodes of `sub` are left out (the checker reports them)."""
    ids = {spec.id for spec in sub.nodes}
    edges = [(edge.source, edge.target) for edge in sub.edges]
    for spec in sub.nodes:
        edges.extend((spec.id, target) for target in implied_targets(spec, registry) if target in ids)
    return Graph.build([spec.id for spec in sub.nodes], edges)


def implied_targets(spec: NodeSpec, registry: NodeRegistry) -> list[str]:
    targets: list[str] = []
    if spec.type in registry:
        cls = registry.get(spec.type)
        targets.extend(str(spec.params[p]) for p in sorted(cls.node_ref_params) if spec.params.get(p))
    if spec.on_error.target is not None:
        targets.append(spec.on_error.target)
    return targets
