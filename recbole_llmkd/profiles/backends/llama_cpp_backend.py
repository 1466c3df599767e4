"""Local generation with llama.cpp (the optional ``llama-cpp-python``): a GGUF file run as quantised,
many users at once.

Every prompt of a batch is its own sequence (``seq_id``, its own KV stream of ``context_length``
tokens) in one llama.cpp context, so the prompts are prefilled together, packed into ``n_batch``-token decode calls, and each
decoding step advances every unfinished sequence in one call: the weights are read once per step
for the whole batch, which is where a 135M model on a CPU spends its time. The decoding rule is the
transformers backend's: greedy (or seeded temperature / top-p sampling with ``do_sample``), the
repetition penalty of ``transformers`` (every token of the prompt and of the output so far: positive
logits divided by it, negative ones multiplied), stop at an end-of-generation token or after
``max_new_tokens``. A sequence's tokens never see another sequence's, so a user's output does not
depend on which users share the batch (tested).

Prompts are rendered with the chat template stored in the GGUF file (the one ``transformers``
applies), so both backends send the same tokens; the numbers differ only by llama.cpp's quantised
arithmetic. ``model_id`` ends in ``@llama.cpp`` so the two backends' profiles never share a cache entry.
``context_length`` (prompt + output of one call) defaults to 2048 tokens, not the model's 8192: the
KV cache holds ``parallel`` of them (SmolLM2-135M: 23 KB a token, 0.75 GB for 16 × 2048), and the
prompt builder splits longer histories to fit it.

``pip install llama-cpp-python==0.3.36`` builds llama.cpp from source (about 10 minutes on 2 cores;
gcc and cmake needed); nothing else in the package needs it.
"""

import logging
import os
import time

import numpy as np

from recbole_llmkd.profiles.backends.base import Backend, Generation

DEFAULT_CONTEXT = 2048  # tokens per sequence (prompt + output), when context_length is not set
INSTALL_HINT = "pip install llama-cpp-python==0.3.36 (builds llama.cpp from source; needs gcc and cmake)"


def import_llama_cpp():
    try:
        import llama_cpp
        from llama_cpp import _internals
    except ImportError as error:
        raise ImportError(f"backend 'llama_cpp' needs llama-cpp-python: {INSTALL_HINT}") from error
    # llama.cpp's own log (model and graph details) goes through this logger; errors only
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return llama_cpp, _internals


def apply_repetition_penalty(logits, seen, penalty):
    """``transformers``' RepetitionPenaltyLogitsProcessor on one row: for every token id in ``seen``,
    a positive logit is divided by ``penalty`` and a negative one multiplied by it (in place)."""
    if penalty != 1.0 and len(seen):
        ids = np.fromiter(seen, dtype=np.int64, count=len(seen))
        values = logits[ids]
        logits[ids] = np.where(values > 0, values / penalty, values * penalty)
    return logits


def choose_token(logits, do_sample=False, temperature=0.7, top_p=0.9, rng=None):
    """The greedy token, or one drawn from the temperature-scaled, top-p-truncated distribution."""
    if not do_sample:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    cumulative = np.cumsum(probs[order])
    keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
    return int(rng.choice(keep, p=probs[keep] / probs[keep].sum()))


class LlamaCppBackend(Backend):
    def __init__(self, model=None, max_new_tokens=160, do_sample=False, temperature=0.7, top_p=0.9,
                 repetition_penalty=1.1, seed=0, context_length=None, threads=None, parallel=16, n_batch=512):
        if model is None:
            from recbole_llmkd.profiles.packaged_models import smollm2_gguf

            model = smollm2_gguf()
        if not (os.path.isfile(model) and model.endswith(".gguf")):
            raise FileNotFoundError(f"model {model!r}: the llama_cpp backend needs a .gguf file")
        for name, value in (("parallel", parallel), ("n_batch", n_batch), ("max_new_tokens", max_new_tokens)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        self.llama_cpp, internals = import_llama_cpp()
        self.path = model
        self.model_id = os.path.basename(model) + "@llama.cpp"
        self.threads = int(threads or len(os.sched_getaffinity(0)))
        self.parallel, self.n_batch = int(parallel), int(n_batch)
        self.max_new_tokens, self.seed = int(max_new_tokens), int(seed)
        self.do_sample, self.temperature, self.top_p = bool(do_sample), float(temperature), float(top_p)
        self.repetition_penalty = float(repetition_penalty)
        self.min_new_tokens = 0  # benchmarks: end-of-generation tokens are masked until this many are out
        started = time.perf_counter()
        params = self.llama_cpp.llama_model_default_params()
        self._model = internals.LlamaModel(path_model=model, params=params, verbose=False)
        self.context_length = min(int(context_length or DEFAULT_CONTEXT), self._model.n_ctx_train())
        self._internals, self._context, self._batch = internals, None, None
        template = self._model.metadata().get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"model {self.model_id!r} has no chat template; use an instruction-tuned model")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self._template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(template)
        self._specials = {"bos_token": self._piece(self._model.token_bos()),
                          "eos_token": self._piece(self._model.token_eos())}
        self._eog = np.array([t for t in range(self._model.n_vocab())
                              if self.llama_cpp.llama_vocab_is_eog(self._model.vocab, t)], dtype=np.int64)
        self._eog_set = set(self._eog.tolist())
        self.load_seconds = time.perf_counter() - started

    def _piece(self, token):
        return self._model.token_get_text(token) if token >= 0 else ""

    def _ensure_context(self):
        if self._context is None:
            started = time.perf_counter()
            params = self.llama_cpp.llama_context_default_params()
            params.n_ctx = self.parallel * self.context_length
            params.n_batch = params.n_ubatch = self.n_batch
            params.n_seq_max = self.parallel
            params.kv_unified = False  # a stream per sequence: attention reads only that sequence's cells
            params.n_threads = params.n_threads_batch = self.threads
            params.no_perf = True
            self._context = self._internals.LlamaContext(model=self._model, params=params, verbose=False)
            self._batch = self._internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
            self.load_seconds += time.perf_counter() - started
        return self._context

    def render(self, messages):
        return self._template.render(messages=messages, add_generation_prompt=True, **self._specials)

    def tokens(self, text):
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_messages(self, messages):
        return len(self.tokens(self.render(messages)))

    def count_text(self, text):
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def generate(self, batch):
        prompts = [self.tokens(self.render(messages)) for messages in batch]
        for prompt in prompts:
            if len(prompt) + self.max_new_tokens > self.context_length:
                raise ValueError(f"a prompt of {len(prompt)} tokens plus max_new_tokens={self.max_new_tokens} exceeds "
                                 f"context_length={self.context_length} of the llama_cpp backend")
        results = []
        for start in range(0, len(prompts), self.parallel):  # `parallel` sequences at a time
            results += self._generate_group(prompts[start:start + self.parallel])
        return results

    def _decode(self, entries):
        """One llama_decode call over ``entries`` = [(token, position, seq_id, wants_logits)]; returns
        the batch indices that hold logits, in order."""
        batch = self._batch.batch
        for i, (token, position, seq_id, logits) in enumerate(entries):
            batch.token[i], batch.pos[i] = token, position
            batch.n_seq_id[i], batch.seq_id[i][0], batch.logits[i] = 1, seq_id, logits
        batch.n_tokens = len(entries)
        self._context.decode(self._batch)

    def _logits(self, index, n_vocab):
        pointer = self._context.get_logits_ith(index)
        return np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy()

    def _generate_group(self, prompts):
        context = self._ensure_context()
        self.llama_cpp.llama_memory_clear(context.memory, False)  # forget the cells; no need to zero them
        n_vocab = self._model.n_vocab()
        rng = np.random.default_rng(self.seed)
        seen = [set(prompt) for prompt in prompts]
        outputs = [[] for _ in prompts]
        done = [False] * len(prompts)
        pending = []  # (seq_id, logits index) of the decode call just made
        step_logits = {}

        def next_tokens():
            for seq_id, index in pending:
                logits = apply_repetition_penalty(self._logits(index, n_vocab), seen[seq_id], self.repetition_penalty)
                if len(outputs[seq_id]) < self.min_new_tokens:
                    logits[self._eog] = -np.inf
                step_logits[seq_id] = choose_token(logits, self.do_sample, self.temperature, self.top_p, rng)
            pending.clear()

        # prefill: the prompts packed into calls of at most n_batch tokens, logits at each prompt's end
        entries = []
        for seq_id, prompt in enumerate(prompts):
            for position, token in enumerate(prompt):
                entries.append((token, position, seq_id, position == len(prompt) - 1))
                if len(entries) == self.n_batch:
                    self._flush(entries, pending)
                    next_tokens()
                    entries = []
        if entries:
            self._flush(entries, pending)
            next_tokens()
        # decoding: every unfinished sequence advances by one token per call
        while True:
            entries = []
            for seq_id in range(len(prompts)):
                if done[seq_id]:
                    continue
                token = step_logits.pop(seq_id)
                if token in self._eog_set:
                    done[seq_id] = True
                    continue
                outputs[seq_id].append(token)
                seen[seq_id].add(token)
                if len(outputs[seq_id]) >= self.max_new_tokens:
                    done[seq_id] = True
                    continue
                entries.append((token, len(prompts[seq_id]) + len(outputs[seq_id]) - 1, seq_id, True))
            if not entries:
                break
            for start in range(0, len(entries), self.n_batch):
                self._flush(entries[start:start + self.n_batch], pending)
                next_tokens()
        return [Generation(self._model.detokenize(out, special=False).decode("utf-8", errors="replace").strip(),
                           len(prompt), len(out))
                for prompt, out in zip(prompts, outputs)]

    def _flush(self, entries, pending):
        self._decode(entries)
        pending.extend((seq_id, i) for i, (_, _, seq_id, logits) in enumerate(entries) if logits)

    def describe(self):
        return {**super().describe(), "threads": self.threads, "parallel": self.parallel,
                "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample,
                "repetition_penalty": self.repetition_penalty, "seed": self.seed,
                "llama_cpp_python": getattr(self.llama_cpp, "__version__", None)}

    def close(self):
        for part in (self._batch, self._context):
            if part is not None:
                part.close()
        self._batch = self._context = None
