"""Every option of the profile pipeline, settable from a YAML file and from the command line.

Precedence, lowest first: the defaults below, the shipped ``properties/profiles/<dataset>.yaml``
(item fields and domain of a known dataset), the user's ``--config`` YAML files, then command-line
flags. An unknown key in a YAML file is an error that names the file and the key.
"""

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Optional

import yaml

API_KEY_IN_CONFIG = "api_key"
# Options only the command line (or a caller's keyword) may set: a file shared with a config must not
# be able to vouch for a pickle (loading one runs code).
COMMAND_LINE_ONLY = ("trust_reducer_file",)


def option(default, help):
    """A ProfileConfig field with its help text (the ``--help`` of its flag); mutable defaults copied."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


# The profile sources, one spelling each: the teacher's designs and its controls
# (recbole_llmkd.profiles.sources builds a .user file from any of them).
SOURCES = ("llm", "item_mean", "metadata", "llm_states", "llm_item_mean", "random", "shuffled")
# the sources written from another .user file rather than from the dataset
DERIVED_SOURCES = ("random", "shuffled")
# the sources the profile pipeline builds from the dataset (``source:`` of its config, ``--source``)
BUILT_SOURCES = tuple(source for source in SOURCES if source not in DERIVED_SOURCES)


@dataclass
class ProfileConfig:
    # -- data and split (the no-leakage rule: recbole_llmkd.formats.split)
    dataset: str = option("ml-100k", "dataset name: the folder <data_path>/<dataset>/ of RecBole atomic files")
    data_path: Optional[str] = option(None, "folder holding <dataset>/ (RecBole's data_path); ml-100k: "
                                            "RecBole's bundled copy")
    output_dir: Optional[str] = option(None, "where the steps write; default output/profiles/<dataset>")
    # The four fields and normalized_time default to what RecBole reads for this dataset
    # (recbole_llmkd.integration.config_files.dataset_settings: RecBole's and the plugin's dataset YAMLs, then the
    # <dataset>.yaml beside the files), so the pipeline and training agree without restating them.
    user_field: Optional[str] = option(None, "user id field of the .inter file; null: RecBole's USER_ID_FIELD")
    item_field: Optional[str] = option(None, "item id field of the .inter and .item files; null: RecBole's "
                                             "ITEM_ID_FIELD")
    time_field: Optional[str] = option(None, "time field of the .inter file; null: RecBole's TIME_FIELD")
    rating_field: Optional[str] = option(None, "rating shown per item when the .inter file has it; null: "
                                               "RecBole's RATING_FIELD; '': none shown")
    rating_scale: Optional[float] = option(5.0, "shown as 'rated 4/5'; null shows the bare value (a watch share)")
    holdout: int = option(2, "leave-one-out: a user's last N interactions are validation/test, never shown")
    normalized_time: Optional[bool] = option(
        None, "whether RecBole min-max scales the time field (it settles near-tie order); null: as RecBole "
              "loads this dataset (normalize_field / normalize_all of its YAMLs)")
    cut_quantile: Optional[float] = option(None, "global temporal split: profiles read only interactions "
                                                 "before this quantile of time")
    # -- what the profile is built from
    source: str = option("llm", "llm (generate + embed) | item_mean (mean sentence embedding of the "
                                "training items; no LLM) | metadata (the user's top categories and their shares as "
                                "a sentence, embedded like a profile; no LLM) | llm_states (the LLM's hidden "
                                "states over the history prompt, no decoding) | llm_item_mean (the LLM's hidden "
                                "states over each training item's text, averaged per user) | random (a fixed "
                                "N(0, 1) vector per user of reference_file, its dims) | shuffled (reference_file's "
                                "vectors permuted across its users); random and shuffled: step all only")
    reference_file: Optional[str] = option(None, "random / shuffled: the .user file whose users and dims (random) "
                                                 "or vectors (shuffled) they take")
    state_layer: int = option(-1, "llm_states / llm_item_mean: the layer read (-1 = the last block, 0 = the token "
                                  "embeddings)")
    state_pooling: str = option("mean", "llm_states / llm_item_mean: mean over the text's tokens, or last (the "
                                        "state at the last token)")
    category_field: Optional[str] = option(None, "metadata source: the .item field counted per user; null: the "
                                                 "first of list_fields")
    # -- prompts
    item_fields: Optional[list] = option(None, ".item fields shown per item; null: every field but the item id")
    list_fields: Optional[list] = option(None, "fields shown comma-separated; null: the token_seq ones")
    field_max_chars: dict = option({"default": 120}, "characters kept per field (FIELD=N); 'default' for the rest")
    domain: str = option("movies", "movies | products: the wording of the prompts")
    style: str = option("short", "short (structured sections) | long (free-text paragraphs)")
    template_file: Optional[str] = option(None, "YAML overriding some prompt texts: system, profile, merge, update")
    max_items: Optional[int] = option(30, "keep only a user's most recent N training items (null: all; long "
                                          "histories cost minutes a user on a CPU)")
    long_history: str = option("agg_after", "histories over the token budget: agg_after (profile parts, "
                                            "then merge) | agg_with (update part by part)")
    context_length: Optional[int] = option(None, "tokens per call (prompt + output); null: the model's context "
                                                 "length (llama_cpp backend: 2048, its KV cache holds batch_size calls)")
    # -- generation
    backend: str = option("transformers", "transformers (local model) | llama_cpp (local GGUF with llama.cpp, "
                                          "batch_size users decoded together; needs llama-cpp-python) | "
                                          "openai (any OpenAI-compatible server)")
    model: Optional[str] = option(None, "model folder, GGUF file or server model name; null: packaged SmolLM2")
    device: str = option("cpu", "transformers backend: torch device")
    dtype: str = option("auto", "transformers backend: float32, bfloat16, float16, int8 (dynamic int8 linear layers, "
                                "CPU), or auto: the fastest this machine runs well (CPU with VNNI: int8; with "
                                "AVX512-BF16/AMX: bfloat16; else float32; CUDA: bfloat16), recorded in the cache key")
    prefill: str = option("per_prompt", "transformers backend: per_prompt (each prompt read alone, unpadded, "
                                        "then the batch decodes together; same text in float32, faster) | batched")
    batch_size: int = option(16, "users generated per batch")
    max_new_tokens: int = option(128, "tokens the LLM may write per profile")
    do_sample: bool = option(False, "sample instead of greedy decoding")
    temperature: float = option(0.7, "sampling temperature (with do_sample)")
    top_p: float = option(0.9, "nucleus sampling mass (with do_sample)")
    repetition_penalty: float = option(1.1, "transformers and llama_cpp backends: penalty on repeated tokens")
    threads: Optional[int] = option(None, "llama_cpp backend: CPU threads; null: every core this process may use")
    seed: int = option(0, "generation seed")
    base_url: str = option("http://127.0.0.1:8000/v1", "openai backend: the server's /v1 URL")
    api_key_env: str = option("OPENAI_API_KEY", "openai backend: environment variable holding the API key "
                                                "(never a file or flag)")
    concurrency: int = option(8, "openai backend: requests in flight")
    timeout: float = option(120.0, "openai backend: seconds per request")
    max_retries: int = option(5, "openai backend: retries on timeouts, connection errors, 429 and 5xx")
    backoff: float = option(1.0, "openai backend: seconds before the first retry, doubled per retry")
    shard: str = option("0/1", "i/n: generate only the users of shard i of n")
    limit_users: Optional[int] = option(None, "only the first N users of the shard (trial runs)")
    max_users: Optional[int] = option(None, "generate: a seeded sample (seed) of N users for a quick look; the "
                                            "others get no profile (the KD models leave them out of L_distil)")
    shipped_cache: list = option([], "read-only generation caches (paths relative to profiles/shipped/)")
    regenerate: bool = option(False, "ignore the shipped caches: generate every profile again")
    # -- embedding, reduction, writing
    encoder: Optional[str] = option(None, "sentence-transformers model folder or name; null: packaged "
                                          "all-MiniLM-L6-v2")
    encoder_prefix: Optional[str] = option(None, "prepended to each profile; null: 'query: ' for E5 models")
    embed_batch_size: int = option(64, "profiles encoded per batch")
    reducer: str = option("umap", "umap | pca | none")
    n_components: int = option(32, "dimensions of the reduced profiles")
    n_neighbors: int = option(15, "UMAP n_neighbors")
    min_dist: float = option(0.1, "UMAP min_dist")
    metric: str = option("cosine", "UMAP metric")
    random_state: int = option(42, "seed of the reducer")
    reducer_file: Optional[str] = option(None, "apply this fitted reducer instead of fitting one")
    trust_reducer_file: bool = option(False, "load reducer_file although this machine's key did not sign it "
                                             "(it is a pickle: loading runs code)")
    profile_field: str = option("profile_emb", "name of the float_seq field in the .user file")
    user_file: Optional[str] = option(None, "the .user file to write or check; null: <output_dir>/<dataset>.user")

    @property
    def out(self):
        return self.output_dir or os.path.join("output", "profiles", self.dataset)

    @property
    def user_path(self):
        return self.user_file or os.path.join(self.out, f"{self.dataset}.user")

    def max_chars(self, name):
        return int(self.field_max_chars.get(name, self.field_max_chars.get("default", 120)))

    def _check_types(self):
        """Each option has its declared type (an int where a number of users belongs, not "abc")."""
        for name, spec in FIELDS.items():
            value = getattr(self, name)
            args = typing.get_args(spec.type)
            if value is None and type(None) in args:
                continue
            kind = next((a for a in args if a is not type(None)), spec.type) if args else spec.type
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, name, float(value))
                continue
            if kind is int and isinstance(value, bool) or not isinstance(value, kind):
                expected = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
                            list: "a list", dict: "a mapping"}[kind]
                raise ValueError(f"option {name!r} is {value!r}; expected {expected}"
                                 + (" or null" if type(None) in args else ""))

    def validate(self):
        self._check_types()
        ranges = {"holdout": (1, None), "n_neighbors": (2, None), "max_new_tokens": (1, None),
                  "context_length": (1, None), "limit_users": (1, None), "max_users": (1, None),
                  "threads": (1, None), "max_retries": (0, None),
                  "temperature": (0, None), "top_p": (0, 1), "repetition_penalty": (0, None),
                  "timeout": (0, None), "backoff": (0, None), "min_dist": (0, None), "rating_scale": (0, None)}
        exclusive = {"temperature", "top_p", "repetition_penalty", "timeout", "rating_scale"}  # (low, ...]
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if value is None:
                continue
            if value != value or (value <= low if name in exclusive else value < low) or \
                    (high is not None and value > high):
                bound = f"> {low}" if name in exclusive else f">= {low}"
                raise ValueError(f"option {name!r} is {value!r}; expected a number {bound}"
                                 + (f" and <= {high}" if high is not None else ""))
        if self.cut_quantile is not None and not 0 < self.cut_quantile < 1:
            raise ValueError(f"option 'cut_quantile' is {self.cut_quantile!r}; expected a number in (0, 1) or null")
        choices = {"domain": ("movies", "products"), "style": ("short", "long"),
                   "long_history": ("agg_after", "agg_with"), "backend": ("transformers", "llama_cpp", "openai"),
                   "reducer": ("umap", "pca", "none"),
                   "source": SOURCES,
                   "state_pooling": ("mean", "last"),
                   "prefill": ("per_prompt", "batched"),
                   "dtype": ("auto", "float32", "bfloat16", "float16", "int8")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        positive = ("batch_size", "max_new_tokens", "concurrency", "embed_batch_size", "n_components")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.max_items is not None and self.max_items < 1:
            raise ValueError(f"max_items must be at least 1 or null, got {self.max_items!r}")
        parse_shard(self.shard)
        return self

    def resolve_dataset_defaults(self):
        """Fill the ``~`` settings that depend on the dataset (field names and time scaling as RecBole
        reads them, item fields from the .item header), so that a dataset written by
        ``dataset_converters`` needs no extra configuration."""
        from recbole_llmkd.formats.files import dataset_files
        from recbole_llmkd.integration.config_files import dataset_settings, normalizes_field

        _, item_path = dataset_files(self.dataset, self.data_path)
        recbole_settings = dataset_settings(self.dataset, os.path.dirname(item_path))
        for name, key in (("user_field", "USER_ID_FIELD"), ("item_field", "ITEM_ID_FIELD"),
                          ("time_field", "TIME_FIELD"), ("rating_field", "RATING_FIELD")):
            if getattr(self, name) is None:
                setattr(self, name, recbole_settings[key])
        if self.item_fields is None or self.list_fields is None:
            types = read_header_types(item_path) if os.path.exists(item_path) else {}
            if self.item_fields is None:
                self.item_fields = [name for name in types if name != self.item_field]
            if self.list_fields is None:
                self.list_fields = [name for name in self.item_fields if types.get(name) == "token_seq"]
        if self.normalized_time is None:
            self.normalized_time = normalizes_field(recbole_settings, self.time_field)
        return self


def read_header_types(path):
    """``{field: type}`` from the header line of a RecBole atomic file."""
    from recbole_llmkd.formats.files import header_types

    with open(path, encoding="utf-8") as f:
        return header_types(path, f.readline().rstrip("\r\n"))


def parse_shard(text):
    """``"i/n"`` -> ``(i, n)`` with 0 <= i < n."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= i < n")
    return index, count


FIELDS = {f.name: f for f in dataclasses.fields(ProfileConfig)}


def read_yaml(path):
    """The mapping in a pipeline YAML file, checked against the known options."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    if API_KEY_IN_CONFIG in data:
        raise ValueError(f"{path}: '{API_KEY_IN_CONFIG}' may not be set in a file; "
                         "put the key in an environment variable and name it with api_key_env")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {unknown}; known: {sorted(FIELDS)}")
    for name in COMMAND_LINE_ONLY:
        if data.get(name) not in (None, False):
            raise ValueError(f"{path}: {name!r} may not be set in a file (it is {data[name]!r}); it is the "
                             f"command line's decision: --{name.replace('_', '-')}")
    return data


def dataset_defaults_file(dataset):
    """The shipped pipeline defaults for ``dataset`` (``properties/profiles/<dataset>.yaml``), or None."""
    from recbole_llmkd.integration.config_files import properties_dir

    path = os.path.join(properties_dir(), "profiles", f"{dataset}.yaml")
    return path if os.path.exists(path) else None


def load_config(config_files=(), **overrides):
    """A validated :class:`ProfileConfig`: defaults < dataset defaults < ``config_files`` < ``overrides``
    (``overrides`` with value None are ignored, so unset command-line flags keep the files' values)."""
    merged = {}
    for path in config_files:
        merged.update(read_yaml(path))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}")
    dataset = overrides.get("dataset", merged.get("dataset", ProfileConfig.dataset))
    values = {}
    shipped = dataset_defaults_file(dataset)
    if shipped:
        values.update(read_yaml(shipped))
    values.update(merged)
    values.update(overrides)
    return ProfileConfig(**values).validate().resolve_dataset_defaults()
