"""Profile-pipeline options of the wrong type or out of range: refused by name before any work."""

import pytest

from recbole_llmkd.profiles.config import load_config


@pytest.mark.parametrize("option, value, message", [
    ("batch_size", "abc", "option 'batch_size' is 'abc'; expected a whole number"),
    ("batch_size", True, "option 'batch_size' is True; expected a whole number"),
    ("do_sample", "yes", "option 'do_sample' is 'yes'; expected true or false"),
    ("item_fields", "title", "option 'item_fields' is 'title'; expected a list or null"),
    ("holdout", 0, r"option 'holdout' is 0; expected a number >= 1"),
    ("cut_quantile", 1.5, r"option 'cut_quantile' is 1.5; expected a number in \(0, 1\) or null"),
    ("temperature", 0, r"option 'temperature' is 0.0; expected a number > 0"),
    ("top_p", 1.5, r"option 'top_p' is 1.5; expected a number > 0 and <= 1"),
    ("max_retries", -1, r"option 'max_retries' is -1; expected a number >= 0"),
    ("n_neighbors", 1, r"option 'n_neighbors' is 1; expected a number >= 2"),
    ("timeout", float("nan"), r"option 'timeout' is nan; expected a number > 0"),
    ("max_users", 0, r"option 'max_users' is 0; expected a number >= 1"),
    ("dtype", "int4", r"dtype must be one of \['auto', 'float32', 'bfloat16', 'float16', 'int8'\], got 'int4'"),
])
def test_bad_options_are_named(option, value, message):
    with pytest.raises(ValueError, match=message):
        load_config(**{option: value})


def test_a_yaml_option_of_the_wrong_type_is_named(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("max_new_tokens: lots\n")
    with pytest.raises(ValueError, match="option 'max_new_tokens' is 'lots'; expected a whole number"):
        load_config([str(path)])


def test_whole_numbers_are_accepted_for_float_options():
    assert load_config(temperature=1, timeout=30).temperature == 1.0
