"""Workflows and their runs: ``/v1/workflows``, ``/v1/runs``, ``/v1/files``.

Publishing takes ``{"definition": "<YAML or JSON text>"}``; an invalid document answers 400 with the
OpenAI error shape plus ``error.problems`` (line, node, reason each). Runs belong to the key that started
them; an admin key sees every run. Event streams are SSE: ``id`` is the event's ``seq``, ``event`` its
type, ``data`` its JSON; ``Last-Event-ID`` or ``?after=`` resume after a given seq.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from deepfort.aigc.runs.service import RunService, run_record, workflow_record
from deepfort.aigc.workflow import WorkflowValidationError
from deepfort.api.auth import principal
from deepfort.api.deps import node
from deepfort.errors import InvalidRequestError, NotFoundError
from deepfort.store.workflows import RunRow

router = APIRouter()


class PublishRequest(BaseModel):
    definition: str = Field(min_length=1, max_length=1_000_000, description="The workflow, YAML or JSON.")


class RunRequest(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict)
    mode: Literal["async", "blocking", "streaming"] = "async"


def _runs(request: Request) -> RunService:
    service: RunService = node(request).runs
    return service


def _owner(request: Request) -> str | None:
    """The key whose runs the caller sees; None (all of them) for an admin."""
    caller = principal(request)
    return None if caller.is_admin else caller.key_id


async def _record(service: RunService, run: RunRow) -> dict[str, Any]:
    workflow = await service.workflow(run.workflow_id)
    return run_record(run, workflow)


def _sse(service: RunService, run_id: str, after: int) -> StreamingResponse:
    async def frames() -> AsyncIterator[str]:
        async for event in service.follow(run_id, after):
            data = json.dumps(event.body, ensure_ascii=False)
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


@router.post("/v1/workflows")
async def publish_workflow(body: PublishRequest, request: Request) -> JSONResponse:
    try:
        row, created = await _runs(request).publish(body.definition)
    except WorkflowValidationError as exc:
        error = dict(exc.to_dict()["error"])  # type: ignore[call-overload]
        error["problems"] = [{"line": p.line, "node": p.node, "reason": p.reason} for p in exc.problems]
        return JSONResponse({"error": error}, status_code=exc.status_code)
    return JSONResponse(workflow_record(row, with_definition=True), status_code=201 if created else 200)


@router.get("/v1/workflows")
async def list_workflows(request: Request) -> dict[str, object]:
    rows = await _runs(request).list_workflows()
    return {"object": "list", "data": [workflow_record(row) for row in rows]}


@router.get("/v1/workflows/{workflow_id}")
async def get_workflow(workflow_id: str, request: Request) -> dict[str, Any]:
    return workflow_record(await _runs(request).workflow(workflow_id), with_definition=True)


@router.post("/v1/workflows/{workflow_id}/runs", response_model=None)
async def start_run(
    workflow_id: str,
    body: RunRequest,
    request: Request,
    idempotency_key: str | None = Header(default=None, max_length=200),
) -> Response:
    service = _runs(request)
    run, _ = await service.start_run(
        workflow_id, body.inputs, key_id=principal(request).key_id, idempotency_key=idempotency_key
    )
    if body.mode == "streaming":
        return _sse(service, run.id, 0)
    if body.mode == "blocking":
        return JSONResponse(await _record(service, await service.wait(run.id)))
    return JSONResponse(await _record(service, run), status_code=202)


@router.get("/v1/runs")
async def list_runs(request: Request, limit: int = Query(default=50, ge=1, le=500)) -> dict[str, object]:
    service = _runs(request)
    runs = await service.list_runs(_owner(request), limit)
    return {"object": "list", "data": [await _record(service, run) for run in runs]}


@router.get("/v1/runs/{run_id}")
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    service = _runs(request)
    record = await _record(service, await service.get_run(run_id, _owner(request)))
    record["nodes"] = await service.node_outputs(run_id)
    return record


@router.get("/v1/runs/{run_id}/events")
async def run_events(
    run_id: str,
    request: Request,
    after: int | None = Query(default=None, ge=0, description="Only events with a larger seq."),
    last_event_id: str | None = Header(default=None),
) -> StreamingResponse:
    service = _runs(request)
    await service.get_run(run_id, _owner(request))
    start = after or 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidRequestError("Last-Event-ID must be an event seq", param="Last-Event-ID")
        start = max(start, int(last_event_id))
    return _sse(service, run_id, start)


@router.post("/v1/runs/{run_id}/cancel")
async def cancel_run(run_id: str, request: Request) -> JSONResponse:
    service = _runs(request)
    await service.get_run(run_id, _owner(request))
    outcome = await service.request_cancel(run_id)
    if outcome == "here":
        return JSONResponse(await _record(service, await service.wait(run_id)))
    # "requested": another server executes the run and acts on the request within a second or so.
    status = 202 if outcome == "requested" else 200
    return JSONResponse(await _record(service, await service.get_run(run_id)), status_code=status)


@router.get("/v1/files/{file_id}", response_model=None)
async def get_file(file_id: str, request: Request) -> FileResponse:
    service = _runs(request)
    found = await service.artefact(file_id)
    owner = _owner(request)
    if found is not None and owner is not None:
        keys = await service.artefact_key_ids(file_id)
        if keys is not None and owner not in keys:
            found = None  # another key's file: as unknown as a file that does not exist
    if found is None:
        raise NotFoundError(f"no file {file_id!r}", param="file_id")
    row, path = found
    return FileResponse(path, media_type=row.mime, filename=path.name)
