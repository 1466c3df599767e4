"""KDSettings (issue 34, item 1): one definition of every kd_* key; the shipped YAML, the paper
preset, the grid's recipes and the search space are derived from it or equal to it."""

import ast
import glob
import os

import pytest
import yaml

from recbole_llmkd import kd_settings
from recbole_llmkd.kd_settings import DEFAULTS, KEYS, RECIPES, SHIPPED_RECIPE, KDSettings, changes_something
from recbole_llmkd.integration.presets import preset_file
from recbole_llmkd.integration.config_files import properties_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_overall_yaml_is_written_from_the_keys():
    with open(os.path.join(properties_dir(), "overall.yaml"), encoding="utf-8") as f:
        assert f.read() == kd_settings.render_overall_yaml(), "rewrite it: recbole_llmkd.integration.config_files.write_overall_yaml()"
    with open(os.path.join(properties_dir(), "overall.yaml"), encoding="utf-8") as f:
        shipped = yaml.safe_load(f)
    assert {k: v for k, v in shipped.items() if k.startswith("kd_")} == DEFAULTS


def test_every_key_is_a_field_and_checks_its_own_default():
    assert [key.name for key in KEYS] == list(KDSettings.__dataclass_fields__)
    assert KDSettings.from_config({}).as_dict() == DEFAULTS
    for key in KEYS:
        assert key.help and key.kind in ("str", "int", "float", "bool")


def test_the_shipped_recipe_is_the_defaults():
    assert RECIPES[SHIPPED_RECIPE] == {key: DEFAULTS[key] for key in RECIPES[SHIPPED_RECIPE]}


def test_the_paper_preset_is_the_paper_recipe():
    with open(preset_file("paper"), encoding="utf-8") as f:
        preset = yaml.safe_load(f)
    # the same run: the preset's kd_* keys on the defaults are the recipe's
    assert {**DEFAULTS, **{k: v for k, v in preset.items() if k.startswith("kd_")}} == {**DEFAULTS, **RECIPES["paper"]}
    KDSettings.from_config({**DEFAULTS, **preset})


def test_every_recipe_is_valid_and_spells_out_the_paper_keys():
    for recipe in RECIPES.values():
        assert set(recipe) >= set(RECIPES["paper"])
        KDSettings.from_config(recipe)


def test_the_search_space_offers_only_allowed_values():
    with open(os.path.join(properties_dir(), "hyper", "kd.hyper"), encoding="utf-8") as f:
        for line in f:
            name, kind, values = line.split(maxsplit=2)
            assert kind == "choice" and name in DEFAULTS
            for value in ast.literal_eval(values):
                kd_settings.check(name, value)


@pytest.mark.parametrize("overrides, changes", [
    ({"kd_alpha": 0.1}, False), ({"kd_alpha": 0.2}, True), ({"kd_beta_max": 10.0}, False),
    ({"kd_gamma": 0.5}, False), ({"kd_gamma": 0.5, "kd_aggregation": "exponential"}, True),
    ({"kd_temperature": 0.2}, True), ({"kd_projection": "frozen"}, False), ({"kd_alpha": 0.0}, True),
])
def test_changes_something_under_the_defaults(overrides, changes):
    assert changes_something(DEFAULTS, overrides) is changes


def test_beta_cap_matters_under_the_paper_recipe():
    assert changes_something(RECIPES["paper"], {"kd_beta_max": 10.0})


def test_recipes_and_defaults_are_written_in_one_place():
    """No module but kd_settings restates a recipe or the defaults (a literal with five or more kd_*
    keys); the YAML it writes and the paper preset, tested equal above, are the others."""
    for path in glob.glob(os.path.join(ROOT, "recbole_llmkd", "**", "*.py"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "benchmarks", "*.py")):
        if path.endswith("kd_settings.py"):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                names = {k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in DEFAULTS}
                assert len(names) < 5, f"{path}:{node.lineno} restates {sorted(names)}"


def test_the_kd_model_list_is_written_once():
    for path in glob.glob(os.path.join(ROOT, "recbole_llmkd", "**", "*.py"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) + [os.path.join(ROOT, "run_recbole_kd.py")]:
        if path.endswith("kd_settings.py"):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        exports = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)}
        for node in ast.walk(tree):
            if id(node) in exports:  # an export list, literal for the documentation's tools; checked below
                continue
            if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                values = {k.value for k in items if isinstance(k, ast.Constant)}
                assert not {"SASRecKD", "BERT4RecKD"} <= values, f"{path}:{node.lineno}"


def test_every_kd_model_is_a_class_of_the_model_package():
    import recbole_llmkd.model as models

    for name, parent in kd_settings.KD_MODELS.items():
        assert getattr(models, name).__name__ == name
        assert parent in [base.__name__ for base in getattr(models, name).__mro__]


def test_the_package_exports_every_kd_model():
    import recbole_llmkd

    assert set(kd_settings.KD_MODELS) <= set(recbole_llmkd.__all__)

