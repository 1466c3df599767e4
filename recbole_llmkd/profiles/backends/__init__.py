"""Generation backends behind one interface (:class:`~.base.Backend`)."""

from recbole_llmkd.profiles.backends.base import Backend, Generation


def make_backend(config):
    """The backend ``config.backend`` names, built from the config's options."""
    common = {"max_new_tokens": config.max_new_tokens, "do_sample": config.do_sample,
              "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed,
              "context_length": config.context_length}
    if config.backend == "transformers":
        from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

        return TransformersBackend(config.model, device=config.device, dtype=config.dtype, prefill=config.prefill,
                                   repetition_penalty=config.repetition_penalty, **common)
    if config.backend == "llama_cpp":
        from recbole_llmkd.profiles.backends.llama_cpp_backend import LlamaCppBackend

        return LlamaCppBackend(config.model, repetition_penalty=config.repetition_penalty, threads=config.threads,
                               parallel=config.batch_size, **common)
    if config.backend == "openai":
        from recbole_llmkd.profiles.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(config.model, base_url=config.base_url, api_key_env=config.api_key_env,
                             concurrency=config.concurrency, timeout=config.timeout,
                             max_retries=config.max_retries, backoff=config.backoff, **common)
    raise ValueError(f"backend must be 'transformers', 'llama_cpp' or 'openai', got {config.backend!r}")


__all__ = ["Backend", "Generation", "make_backend"]
