"""Every option of the profile pipeline, settable from a YAML file and from the command line.

Precedence, lowest first: the defaults below, the shipped ``properties/profiles/<dataset>.yaml``
(item fields and domain of a known dataset), the user's ``--config`` YAML files, then command-line
flags. An unknown key in a YAML file is an error that names the file and the key.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional

import yaml

API_KEY_IN_CONFIG = "api_key"


@dataclass
class ProfileConfig:
    # -- data and split (the no-leakage rule: recbole_llmkd.profiles.split)
    dataset: str = "ml-100k"
    data_path: Optional[str] = None  # folder holding <dataset>/; ml-100k defaults to RecBole's bundled copy
    output_dir: Optional[str] = None  # default: output/profiles/<dataset>
    user_field: str = "user_id"
    item_field: str = "item_id"
    time_field: str = "timestamp"
    rating_field: Optional[str] = "rating"  # shown per item when the .inter file has it
    rating_scale: Optional[float] = 5.0  # "4/5"; None shows the bare value (e.g. a watch share)
    holdout: int = 2  # leave-one-out: the last `holdout` interactions of a user are validation/test
    normalized_time: bool = True  # RecBole min-max scales the time field (normalize_all), as for ml-100k
    cut_quantile: Optional[float] = None  # global temporal split: train on interactions before this quantile
    # -- what the profile is built from
    source: str = "llm"  # llm (generate + embed) | item_mean (mean sentence embedding of the training items; no LLM)
    # -- prompts
    item_fields: list = field(default_factory=lambda: ["movie_title", "release_year", "class"])
    list_fields: list = field(default_factory=lambda: ["class"])  # token_seq fields shown comma-separated
    field_max_chars: dict = field(default_factory=lambda: {"default": 120})  # per field; "default" for the rest
    domain: str = "movies"  # movies | products: the wording of the prompts
    style: str = "short"  # short (structured sections) | long (free-text paragraphs)
    template_file: Optional[str] = None  # YAML overriding some of: system, profile, merge, update
    max_items: Optional[int] = None  # keep only the most recent N training items (counted in the summary)
    long_history: str = "agg_after"  # agg_after | agg_with: histories over the token budget
    context_length: Optional[int] = None  # tokens; default: the backend's (the model's) context length
    # -- generation
    backend: str = "transformers"  # transformers | openai
    model: Optional[str] = None  # model dir, GGUF file or server model name; default: packaged SmolLM2
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 8
    max_new_tokens: int = 160
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    seed: int = 0
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this environment variable only
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 5
    backoff: float = 1.0  # seconds, doubled per retry
    shard: str = "0/1"  # i/n: this process generates the users of shard i of n
    limit_users: Optional[int] = None  # only the first N users (by id) of the shard: trial runs
    shipped_cache: list = field(default_factory=list)  # read-only caches (paths relative to profiles/shipped/)
    regenerate: bool = False  # ignore the shipped caches: generate every profile again
    # -- embedding, reduction, writing
    encoder: Optional[str] = None  # sentence-transformers model dir or name; default: packaged all-MiniLM-L6-v2
    encoder_prefix: Optional[str] = None  # prepended to each profile; default: "query: " for E5 models, else ""
    embed_batch_size: int = 64
    reducer: str = "umap"  # umap | pca | none
    n_components: int = 32
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    random_state: int = 42
    reducer_file: Optional[str] = None  # apply this fitted reducer instead of fitting one
    profile_field: str = "profile_emb"
    user_file: Optional[str] = None  # the .user file; default: <output_dir>/<dataset>.user

    @property
    def out(self):
        return self.output_dir or os.path.join("output", "profiles", self.dataset)

    @property
    def user_path(self):
        return self.user_file or os.path.join(self.out, f"{self.dataset}.user")

    def max_chars(self, name):
        return int(self.field_max_chars.get(name, self.field_max_chars.get("default", 120)))

    def validate(self):
        choices = {"domain": ("movies", "products"), "style": ("short", "long"),
                   "long_history": ("agg_after", "agg_with"), "backend": ("transformers", "openai"),
                   "reducer": ("umap", "pca", "none"), "source": ("llm", "item_mean")}
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
    return data


def dataset_defaults_file(dataset):
    """The shipped pipeline defaults for ``dataset`` (``properties/profiles/<dataset>.yaml``), or None."""
    from recbole_llmkd.registry import properties_dir

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
    return ProfileConfig(**values).validate()
