import pytest

from recbole_llmkd.profiles.prompts import PromptBuilder

U1_LINES = ["Alien | 1979 | Horror, Sci-Fi | rated 5/5", "Heat | 1995 | Action, Crime, Thriller | rated 4/5"]


def test_short_movie_prompt_exact_text():
    system, user = PromptBuilder("short", "movies").profile(U1_LINES)
    assert system == {"role": "system", "content": "You are an expert in recommender systems. You describe a "
                      "viewer's tastes in concise, factual profiles."}
    assert user["role"] == "user"
    assert user["content"] == (
        "Here are the movies a viewer watched and rated, oldest first, one per line:\n\n"
        "Alien | 1979 | Horror, Sci-Fi | rated 5/5\n"
        "Heat | 1995 | Action, Crime, Thriller | rated 4/5\n\n"
        "Write a short profile of this viewer with exactly three sections:\n"
        "Preferences: the genres, themes and kinds of movies they like and dislike.\n"
        "Behavioural patterns: how they choose and rate movies.\n"
        "Engagement trends: how their taste and activity changed over time.\n"
        "Write at most 100 words. Do not list titles.")


def test_long_product_prompt_uses_paragraphs_and_product_words():
    content = PromptBuilder("long", "products").profile(["Lipstick | Makeup"])[1]["content"]
    assert content.startswith("Here are the products a customer bought and reviewed")
    assert "two or three paragraphs" in content and "three sections" not in content


def test_merge_and_update_prompts_carry_the_parts():
    prompts = PromptBuilder()
    merge = prompts.merge(["likes horror", "likes drama "])[1]["content"]
    assert "Here are 2 profiles" in merge and "Part 1:\nlikes horror\n\nPart 2:\nlikes drama" in merge
    update = prompts.update("likes horror", ["Heat | 1995"])[1]["content"]
    assert "likes horror" in update and "Heat | 1995" in update and "whole history" in update


def test_template_file_overrides_and_changes_the_fingerprint(tmp_path):
    path = tmp_path / "templates.yaml"
    path.write_text("system: 'You profile {user}s.'\nshort: 'Three words about this {user}.'\n")
    custom = PromptBuilder(template_file=str(path))
    system, user = custom.profile(U1_LINES)
    assert system["content"] == "You profile viewers."
    assert user["content"].endswith("Three words about this viewer.")
    assert custom.fingerprint() != PromptBuilder().fingerprint()


@pytest.mark.parametrize("text,match", [("nonsense: 1\n", r"\['nonsense'\]"), ("- a list\n", "expected a mapping")])
def test_bad_template_file_is_named(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as error:
        PromptBuilder(template_file=str(path))
    assert str(path) in str(error.value)


@pytest.mark.parametrize("kwargs", [{"style": "medium"}, {"domain": "books"}])
def test_unknown_style_or_domain(kwargs):
    with pytest.raises(ValueError):
        PromptBuilder(**kwargs)
