"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp's server, Ollama, OpenAI.

Requests go out concurrently (at most ``concurrency`` at a time) with the standard library's HTTP
client. A request that times out, cannot connect, or gets 429 or a 5xx answer is retried up to
``max_retries`` times, waiting ``backoff * 2**attempt`` seconds (or the server's ``Retry-After``);
any other error, or running out of retries, fails that request only. The API key is read from the
environment variable ``api_key_env`` and is never logged or written anywhere.

There is no local tokenizer for a remote model, so prompt lengths are estimated conservatively (one
token per 3 characters) for the token budget; the counts in the summary are the server's own.
"""

import json
import logging
import math
import os
import re
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from recbole_llmkd.profiles.backends.base import Backend, Generation

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 8

log = logging.getLogger(__name__)


# what a server that echoes a request may put in an error body: the Authorization header, bearer
# tokens, OpenAI-style keys
SECRET_PATTERNS = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?|bearer\s+)[^\s\"',}]+"
                             r"|sk-[A-Za-z0-9_\-]{8,}")


def redact(text, secret=None):
    """``text`` without ``secret`` and anything that looks like a credential."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return SECRET_PATTERNS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class RequestFailed(Exception):
    def __init__(self, message, retry_after=None, retryable=True):
        super().__init__(message)
        self.retry_after, self.retryable = retry_after, retryable


class OpenAIBackend(Backend):
    def __init__(self, model=None, base_url="http://127.0.0.1:8000/v1", api_key_env="OPENAI_API_KEY",
                 max_new_tokens=160, do_sample=False, temperature=0.7, top_p=0.9, seed=0, concurrency=8,
                 timeout=120.0, max_retries=5, backoff=1.0, context_length=None):
        if not model:
            raise ValueError("the openai backend needs model: the name the server knows the model by")
        if not context_length:
            raise ValueError("the openai backend needs context_length: the served model's context in tokens")
        self.model_id, self.context_length = model, int(context_length)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key_env = api_key_env
        self.concurrency, self.timeout = int(concurrency), float(timeout)
        self.max_retries, self.backoff = int(max_retries), float(backoff)
        self.body = {"model": model, "max_tokens": int(max_new_tokens), "seed": int(seed),
                     "temperature": float(temperature) if do_sample else 0.0}
        if do_sample:
            self.body["top_p"] = float(top_p)
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")

    def count_text(self, text):
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def count_messages(self, messages):
        return sum(self.count_text(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)

    def generate(self, batch):
        return list(self.pool.map(self._complete, batch))

    def _headers(self):
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, messages):
        data = json.dumps({**self.body, "messages": messages}).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            retry_after = error.headers.get("Retry-After") if error.headers else None
            # the body is stored in the run's summary: never with the key in it
            detail = redact(error.read()[:2000].decode("utf-8", "replace"), os.environ.get(self.api_key_env))[:300]
            raise RequestFailed(f"HTTP {error.code} from {self.url}: {detail}",
                                float(retry_after) if retry_after and retry_after.isdigit() else None,
                                error.code in RETRY_STATUS) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise RequestFailed(f"{type(reason).__name__} calling {self.url}: {reason}") from None
        except json.JSONDecodeError as error:
            raise RequestFailed(f"{self.url} answered with invalid JSON: {error}", retryable=False) from None
        try:
            text = payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RequestFailed(f"{self.url}: no choices[0].message.content in the answer", retryable=False) from None
        usage = payload.get("usage") or {}
        return Generation(text.strip(), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    def _complete(self, messages):
        for attempt in range(self.max_retries + 1):
            try:
                return self._post(messages)
            except RequestFailed as error:
                if not error.retryable or attempt == self.max_retries:
                    return Generation("", 0, 0, error=f"{error} (after {attempt + 1} attempt(s))")
                wait = error.retry_after if error.retry_after is not None else self.backoff * 2 ** attempt
                log.warning("%s; retrying in %.1f s", error, wait)
                time.sleep(wait)

    def describe(self):
        return {**super().describe(), "url": self.url, **{k: v for k, v in self.body.items() if k != "model"}}

    def close(self):
        self.pool.shutdown(wait=True)
