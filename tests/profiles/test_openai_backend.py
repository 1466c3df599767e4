import pytest

from recbole_llmkd.profiles.backends.openai_backend import OpenAIBackend

MESSAGES = [{"role": "system", "content": "s"}, {"role": "user", "content": "Alien | Horror, Sci-Fi\nHeat | Horror"}]


@pytest.fixture
def backend(openai_server, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    made = []

    def make(**kwargs):
        options = {"model": "tiny", "base_url": openai_server.base_url, "api_key_env": "TEST_LLM_KEY",
                   "context_length": 4096, "backoff": 0.01, "max_new_tokens": 32, **kwargs}
        made.append(OpenAIBackend(**options))
        return made[-1]
    yield make
    for b in made:
        b.close()


def test_generates_in_the_openai_format_with_the_key_from_the_environment(backend, openai_server):
    b = backend()
    [generation] = b.generate([MESSAGES])
    assert generation.text == "Preferences: Horror, Sci-Fi. Behavioural patterns: 2 lines read."
    assert generation.error is None and generation.output_tokens == 8 and generation.prompt_tokens > 0
    [request] = openai_server.requests
    assert request["authorization"] == "Bearer sk-test-123"
    assert request["body"]["model"] == "tiny" and request["body"]["max_tokens"] == 32
    assert request["body"]["temperature"] == 0.0  # greedy
    assert "sk-test-123" not in repr(b.describe())


def test_concurrent_batch_keeps_the_order(backend):
    batch = [[{"role": "user", "content": genre}] for genre in ("Drama", "Comedy", "War", "Horror")]
    texts = [g.text for g in backend(concurrency=4).generate(batch)]
    assert [t.split(":")[1].split(".")[0].strip() for t in texts] == ["Drama", "Comedy", "War", "Horror"]


def test_429_then_success_is_retried(backend, openai_server):
    openai_server.enqueue(429, 503)
    [generation] = backend().generate([MESSAGES])
    assert generation.error is None and generation.text.startswith("Preferences")
    assert len(openai_server.requests) == 3


def test_timeout_is_retried_then_succeeds(backend, openai_server):
    openai_server.enqueue(("sleep", 1.0))
    [generation] = backend(timeout=0.3).generate([MESSAGES])
    assert generation.error is None
    assert len(openai_server.requests) == 2


def test_retries_run_out_into_an_error_for_that_request_only(backend, openai_server):
    openai_server.enqueue(429, 429, 429)
    [failed] = backend(max_retries=2).generate([MESSAGES])
    assert failed.text == "" and "HTTP 429" in failed.error and "3 attempt(s)" in failed.error
    [ok] = backend(max_retries=2).generate([MESSAGES])
    assert ok.error is None


def test_client_errors_are_not_retried(backend, openai_server):
    openai_server.enqueue(400)
    [failed] = backend().generate([MESSAGES])
    assert "HTTP 400" in failed.error and len(openai_server.requests) == 1


def test_unreachable_server_fails_cleanly(backend):
    [failed] = backend(base_url="http://127.0.0.1:9/v1", max_retries=1).generate([MESSAGES])
    assert "calling http://127.0.0.1:9/v1/chat/completions" in failed.error


@pytest.mark.parametrize("missing", ["model", "context_length"])
def test_required_options(missing):
    options = {"model": "m", "context_length": 100, missing: None}
    with pytest.raises(ValueError, match=missing):
        OpenAIBackend(**options)
