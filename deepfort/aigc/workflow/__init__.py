"""Workflows: a versioned YAML/JSON DSL (`dsl`), an async DAG executor with typed events (`executor`,
`events`), and node types registered by name (`nodes`)."""

from __future__ import annotations

from deepfort.aigc.workflow.dsl import bind_inputs, load_workflow, parse_workflow
from deepfort.aigc.workflow.nodes import NodeRegistry, default_registry
from deepfort.aigc.workflow.spec import Workflow, WorkflowVersion
from deepfort.aigc.workflow.validate import Problem, WorkflowValidationError

__all__ = [
    "NodeRegistry",
    "Problem",
    "Workflow",
    "WorkflowValidationError",
    "WorkflowVersion",
    "bind_inputs",
    "default_registry",
    "load_workflow",
    "parse_workflow",
]
