"""Wire models, the leaf every layer may import. Fields follow the order of OpenAI's API reference; our
extensions sit in a marked block at the end of each model. Unknown request fields are ignored (clients send
vendor extras). One module per endpoint family; everything is re-exported here."""

from __future__ import annotations

from deepfort.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessage,
    ChatMessageOut,
    ReasoningEffort,
    RouteInfo,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from deepfort.protocol.common import (
    ChatCompletionTokenLogprob,
    ChoiceLogprobs,
    CompletionTokensDetails,
    ErrorDetail,
    ErrorResponse,
    JsonSchemaFormat,
    LoraRef,
    Request,
    ResponseFormat,
    StreamOptions,
    TopLogprob,
    Usage,
)
from deepfort.protocol.completions import Completion, CompletionChoice, CompletionLogprobs, CompletionRequest
from deepfort.protocol.generate import GenerateRequest, GenerateResponse
from deepfort.protocol.models import ModelCard, ModelList
from deepfort.protocol.tokenize import (
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
    TokenizerInfoResponse,
)

__all__ = [
    "AssistantMessage",
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionTokenLogprob",
    "ChatDelta",
    "ChatMessage",
    "ChatMessageOut",
    "ChoiceLogprobs",
    "Completion",
    "CompletionChoice",
    "CompletionLogprobs",
    "CompletionRequest",
    "CompletionTokensDetails",
    "DetokenizeRequest",
    "DetokenizeResponse",
    "ErrorDetail",
    "ErrorResponse",
    "GenerateRequest",
    "GenerateResponse",
    "JsonSchemaFormat",
    "LoraRef",
    "ModelCard",
    "ModelList",
    "ReasoningEffort",
    "Request",
    "ResponseFormat",
    "RouteInfo",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "TokenizeRequest",
    "TokenizeResponse",
    "TokenizerInfoResponse",
    "ToolMessage",
    "TopLogprob",
    "Usage",
    "UserMessage",
]
