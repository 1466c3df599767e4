"""Generation backends behind one interface (:class:`~.base.Backend`)."""

from recbole_llmkd.profiles.backends.base import Backend, Generation


CPU_INFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo=CPU_INFO):
    """The CPU's feature flags (``/proc/cpuinfo``; empty where there is none)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_dtype(dtype, device="cpu", cpuinfo=CPU_INFO):
    """``(dtype, why)``: ``dtype`` itself, or for ``auto`` the fastest the transformers backend runs
    well here. On a CPU (results/cost/profile_generation.txt, 2 cores with AVX512-VNNI and -BF16, batch
    16): int8 linear layers 3.0x float32's output rate, bfloat16 2.3x; int8 needs the VNNI int8 dot
    products to gain, bfloat16 AVX512-BF16 or AMX; without either, float32. On CUDA, bfloat16 where
    the GPU has it. The result, not ``auto``, goes into the backend's description and so the cache
    key: machines with other CPUs choose differently (set ``dtype`` when shards run on several)."""
    if dtype != "auto":
        return dtype, "set"
    if str(device).startswith("cuda"):
        import torch

        return ("bfloat16", "auto: CUDA with bfloat16") if torch.cuda.is_bf16_supported() else ("float16", "auto: CUDA")
    if str(device) != "cpu":
        return "float32", f"auto: device {device}"
    flags = cpu_flags(cpuinfo)
    for chosen, needs in (("int8", ("avx512_vnni", "avx_vnni", "amx_int8")), ("bfloat16", ("avx512_bf16", "amx_bf16"))):
        present = [flag for flag in needs if flag in flags]
        if present:
            return chosen, f"auto: CPU has {present[0]}"
    return "float32", "auto: CPU without VNNI, AVX512-BF16 or AMX"


def make_backend(config):
    """The backend ``config.backend`` names, built from the config's options."""
    common = {"max_new_tokens": config.max_new_tokens, "do_sample": config.do_sample,
              "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed,
              "context_length": config.context_length}
    if config.backend == "transformers":
        from recbole_llmkd.profiles.backends.transformers_backend import TransformersBackend

        dtype = resolve_dtype(config.dtype, config.device)[0]
        return TransformersBackend(config.model, device=config.device, dtype=dtype, prefill=config.prefill,
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
