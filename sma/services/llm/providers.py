"""Model providers behind one interface: the official OpenAI and Anthropic SDKs.

`OpenAIProvider` also serves every OpenAI-compatible base URL (Ollama, vLLM, LM Studio). SDK retries are
off: the gateway retries, so every HTTP attempt is recorded, priced and counted by the circuit breaker.
SDK errors become `ProviderError` with an outcome and whether the same provider may be asked again.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sma.models.llm import ChatMessage, Completion, LLMRequest
from sma.services.llm.config import ProviderSettings, StructuredMode
from sma.services.llm.errors import ProviderError
from sma.settings import Secrets

DEFAULT_KEY_SECRET = {"openai": "openai_api_key", "anthropic": "anthropic_api_key"}
RETRYABLE_STATUS = {408, 409, 429}


class Provider(Protocol):
    settings: ProviderSettings

    async def complete(self, request: LLMRequest, model: str, timeout: float) -> Completion: ...

    async def aclose(self) -> None: ...


def api_key(settings: ProviderSettings, secrets: Secrets) -> str | None:
    name = settings.api_key_secret or DEFAULT_KEY_SECRET.get(settings.kind)
    if not name:
        return None
    value = getattr(secrets, name, None)
    return value.get_secret_value() if value is not None else None


def availability(settings: ProviderSettings, secrets: Secrets) -> tuple[bool, str]:
    """Whether a provider can be called at all, and if not, what a person must set."""
    if not settings.enabled:
        return False, "disabled in config"
    if not settings.model:
        return False, f"no model: set llm.providers[{settings.name}].model"
    if settings.kind == "openai_compatible":
        if not settings.base_url:
            return False, f"no base_url: set llm.providers[{settings.name}].base_url"
        if settings.api_key_secret and not api_key(settings, secrets):
            return False, f"secret {settings.api_key_secret} is not set"
        return True, "ok"
    if settings.api_key_secret and not hasattr(secrets, settings.api_key_secret):
        return False, f"unknown secret {settings.api_key_secret!r}"
    if not api_key(settings, secrets):
        secret = settings.api_key_secret or DEFAULT_KEY_SECRET[settings.kind]
        return False, f"no API key: set secrets.{secret} (or SMA_SECRETS__{secret.upper()})"
    return True, "ok"


def build_provider(settings: ProviderSettings, secrets: Secrets) -> Provider:
    key = api_key(settings, secrets)
    if settings.kind == "anthropic":
        return AnthropicProvider(settings, key or "")
    return OpenAIProvider(settings, key or "not-needed")


def schema_instruction(request: LLMRequest) -> str:
    return ("\n\nReply with only one JSON object, no prose and no code fences, that matches this JSON schema:\n"
            + json.dumps(request.json_schema, separators=(",", ":")))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def map_sdk_error(exc: Exception, sdk: Any) -> ProviderError:
    """One SDK exception as a ProviderError (both SDKs share the same error hierarchy)."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("timed out", "timeout", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(f"connection failed: {_short(str(exc))}", "connection_error", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        message = f"HTTP {status}: {_short(getattr(exc, 'message', '') or str(exc))}"
        if status == 429:
            return ProviderError(message, "rate_limited", True, _retry_after(exc), status)
        if status >= 500 or status in RETRYABLE_STATUS:
            return ProviderError(message, "server_error", True, _retry_after(exc), status)
        return ProviderError(message, "client_error", False, None, status)
    return ProviderError(f"{type(exc).__name__}: {_short(str(exc))}", "client_error", retryable=False)


# ---------------------------------------------------------------- OpenAI and compatible servers


class OpenAIProvider:
    def __init__(self, settings: ProviderSettings, key: str) -> None:
        self.settings = settings
        self._key = key
        self._client: Any = None
        self._sdk_client()

    def _sdk_client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(api_key=self._key, base_url=self.settings.base_url or None,
                                              max_retries=0, timeout=self.settings.timeout_s)
        return self._client

    def mode(self, request: LLMRequest) -> StructuredMode:
        if request.json_schema is None:
            return "prompt"
        return "json_schema" if self.settings.structured == "auto" else self.settings.structured

    def _messages(self, request: LLMRequest, mode: StructuredMode) -> list[dict[str, Any]]:
        system = request.system
        if request.json_schema is not None and mode in ("json_object", "prompt"):
            system += schema_instruction(request)
        return [{"role": "system", "content": system}, *(_openai_message(m) for m in request.messages)]

    def _params(self, request: LLMRequest, model: str) -> dict[str, Any]:
        mode = self.mode(request)
        params: dict[str, Any] = {"model": model, "messages": self._messages(request, mode)}
        limit = request.max_tokens or self.settings.max_tokens
        params["max_completion_tokens" if self.settings.kind == "openai" else "max_tokens"] = limit
        if self.settings.temperature is not None:
            params["temperature"] = self.settings.temperature
        name = request.schema_name or "output"
        if request.json_schema is not None and mode == "json_schema":
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": name, "schema": request.json_schema, "strict": True}}
        elif request.json_schema is not None and mode == "json_object":
            params["response_format"] = {"type": "json_object"}
        elif request.json_schema is not None and mode == "tools":
            params["tools"] = [{"type": "function", "function": {
                "name": name, "description": f"Return the {name}.", "parameters": request.json_schema}}]
            params["tool_choice"] = {"type": "function", "function": {"name": name}}
        return params

    async def complete(self, request: LLMRequest, model: str, timeout: float) -> Completion:
        import openai

        try:
            response = await self._sdk_client().chat.completions.create(
                **self._params(request, model), timeout=timeout)
        except openai.OpenAIError as exc:
            raise map_sdk_error(exc, openai) from exc
        return _openai_completion(response, model)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.text}]
    parts += [{"type": "image_url", "image_url": {"url": f"data:{img.media_type};base64,{img.data_b64}"}}
              for img in message.images]
    return {"role": message.role, "content": parts}


def _openai_completion(response: Any, model: str) -> Completion:
    if not getattr(response, "choices", None):
        raise ProviderError("the response has no choices", "server_error", retryable=True)
    choice = response.choices[0]
    message = choice.message
    text, data = message.content or "", None
    tool_calls = getattr(message, "tool_calls", None) or []
    if tool_calls:
        arguments = tool_calls[0].function.arguments or ""
        try:
            data = json.loads(arguments)
        except ValueError:
            text = arguments  # let the parser repair it
    usage = getattr(response, "usage", None)
    return Completion(
        text=text, data=data if isinstance(data, dict) else None, model=getattr(response, "model", "") or model,
        tokens_in=getattr(usage, "prompt_tokens", 0) or 0, tokens_out=getattr(usage, "completion_tokens", 0) or 0,
        finish_reason=choice.finish_reason or "", refusal=getattr(message, "refusal", None) or "",
    )


# ---------------------------------------------------------------- Anthropic


class AnthropicProvider:
    def __init__(self, settings: ProviderSettings, key: str) -> None:
        self.settings = settings
        self._key = key
        self._client: Any = None
        self._sdk_client()

    def _sdk_client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(api_key=self._key, base_url=self.settings.base_url or None,
                                                    max_retries=0, timeout=self.settings.timeout_s)
        return self._client

    def mode(self, request: LLMRequest) -> StructuredMode:
        if request.json_schema is None:
            return "prompt"
        return "tools" if self.settings.structured in ("auto", "json_schema", "tools") else "prompt"

    def _params(self, request: LLMRequest, model: str) -> dict[str, Any]:
        mode = self.mode(request)
        system = request.system
        if request.json_schema is not None and mode == "prompt":
            system += schema_instruction(request)
        params: dict[str, Any] = {
            "model": model, "max_tokens": request.max_tokens or self.settings.max_tokens, "system": system,
            "messages": [_anthropic_message(m) for m in request.messages],
        }
        # The current Anthropic SDK has no `temperature` parameter: the model's default sampling is used.
        if request.json_schema is not None and mode == "tools":
            name = request.schema_name or "output"
            params["tools"] = [{"name": name, "description": f"Return the {name}.",
                                "input_schema": request.json_schema}]
            params["tool_choice"] = {"type": "tool", "name": name}
        return params

    async def complete(self, request: LLMRequest, model: str, timeout: float) -> Completion:
        import anthropic

        try:
            response = await self._sdk_client().messages.create(**self._params(request, model), timeout=timeout)
        except anthropic.AnthropicError as exc:
            raise map_sdk_error(exc, anthropic) from exc
        return _anthropic_completion(response, model)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _anthropic_message(message: ChatMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.text}
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": img.media_type, "data": img.data_b64}}
        for img in message.images]
    blocks.append({"type": "text", "text": message.text})
    return {"role": message.role, "content": blocks}


def _anthropic_completion(response: Any, model: str) -> Completion:
    text_parts: list[str] = []
    data: dict[str, Any] | None = None
    for block in getattr(response, "content", None) or []:
        if block.type == "tool_use" and data is None and isinstance(block.input, dict):
            data = block.input
        elif block.type == "text":
            text_parts.append(block.text)
    usage = getattr(response, "usage", None)
    return Completion(
        text="".join(text_parts), data=data, model=getattr(response, "model", "") or model,
        tokens_in=getattr(usage, "input_tokens", 0) or 0, tokens_out=getattr(usage, "output_tokens", 0) or 0,
        finish_reason=getattr(response, "stop_reason", "") or "",
    )
