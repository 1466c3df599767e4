import pytest

from recbole_llmkd.profiles.cli import build_parser, config_from_args
from recbole_llmkd.profiles.config import ProfileConfig, load_config


def test_precedence_defaults_dataset_file_user_file_flags(tmp_path):
    assert ProfileConfig().dtype == "auto"
    assert load_config().dtype == "float32"  # properties/profiles/ml-100k.yaml: the shipped profiles' dtype
    path = tmp_path / "mine.yaml"
    path.write_text("max_items: 12\nstyle: long\n")
    config = load_config([str(path)], style="short")
    assert (config.max_items, config.style) == (12, "short")


def test_cli_flags_and_yaml_reach_the_config(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("reducer: pca\nn_components: 4\n")
    args = build_parser().parse_args([
        "all", "--config", str(path), "-d", "ml-100k", "--n-components", "8", "--no-do-sample",
        "--item-fields", "movie_title", "class", "--field-max-chars", "default=50", "class=20",
    ])
    config = config_from_args(args)
    assert (config.reducer, config.n_components, config.do_sample) == ("pca", 8, False)
    assert config.item_fields == ["movie_title", "class"]
    assert config.max_chars("class") == 20 and config.max_chars("movie_title") == 50


@pytest.mark.parametrize("text,match", [
    ("max_itemz: 3\n", r"unknown option\(s\) \['max_itemz'\]"),
    ("api_key: sk-secret\n", "may not be set in a file"),
    ("- 1\n", "expected a mapping"),
    ("style: medium\n", "style must be one of"),
    ("prefill: padded\n", r"prefill must be one of \['per_prompt', 'batched'\], got 'padded'"),
    ("batch_size: 0\n", "batch_size must be at least 1"),
    ("shard: 2/2\n", "need 0 <= i < n"),
])
def test_bad_yaml_is_named(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config([str(path)])


def test_bad_field_limit_flag():
    with pytest.raises(ValueError, match="field=N pairs, got 'class:20'"):
        config_from_args(build_parser().parse_args(["all", "--field-max-chars", "class:20"]))


def test_beauty_defaults_generate_in_int8_with_product_wording():
    config = load_config(dataset="beauty")
    assert (config.dtype, config.domain, config.max_items, config.max_new_tokens, config.batch_size) == (
        "int8", "products", 30, 128, 16)
