"""The chat messages that ask an LLM for a user profile.

Two styles from the paper: ``short`` (three structured sections: preferences, behavioural patterns,
engagement trends) and ``long`` (a few free-text paragraphs), worded for ``movies`` or ``products``.
Long histories use two more prompts: ``merge`` (one profile from the profiles of consecutive parts,
for ``agg_after``) and ``update`` (a running profile extended by the next part, for ``agg_with``).

A template file (YAML) may override any of ``system``, ``profile``, ``merge``, ``update``,
``short``, ``long``; placeholders: ``{history}``, ``{profiles}``, ``{profile}``, ``{n_parts}``,
``{instruction}`` and the domain words ``{items}``, ``{user}``, ``{verb}``.
"""

import hashlib
import json

import yaml

DOMAINS = {
    "movies": {"items": "movies", "user": "viewer", "verb": "watched and rated"},
    "products": {"items": "products", "user": "customer", "verb": "bought and reviewed"},
}

DEFAULT_TEMPLATES = {
    "system": "You are an expert in recommender systems. You describe a {user}'s tastes in concise, "
              "factual profiles.",
    "profile": "Here are the {items} a {user} {verb}, oldest first, one per line:\n\n{history}\n\n{instruction}",
    "merge": "Here are {n_parts} profiles of the same {user}, each written from a consecutive part of "
             "their history, oldest part first:\n\n{profiles}\n\nCombine them into one profile. {instruction}",
    "update": "Here is a profile of a {user}, written from their earlier history:\n\n{profile}\n\n"
              "Here are the {items} they {verb} next, oldest first, one per line:\n\n{history}\n\n"
              "Rewrite the profile so that it covers the whole history. {instruction}",
    "short": "Write a short profile of this {user} with exactly three sections:\n"
             "Preferences: the genres, themes and kinds of {items} they like and dislike.\n"
             "Behavioural patterns: how they choose and rate {items}.\n"
             "Engagement trends: how their taste and activity changed over time.\n"
             "Write at most 100 words. Do not list titles.",
    "long": "Write a profile of this {user} in two or three paragraphs of plain prose: what they like "
            "and dislike, how they choose and rate {items}, and how their taste changed over time. "
            "Do not list titles.",
}


def load_templates(template_file=None):
    """The default templates with those of ``template_file`` (YAML) laid over them."""
    templates = dict(DEFAULT_TEMPLATES)
    if template_file:
        with open(template_file, encoding="utf-8") as f:
            custom = yaml.safe_load(f) or {}
        unknown = sorted(set(custom) - set(DEFAULT_TEMPLATES)) if isinstance(custom, dict) else None
        if unknown is None or unknown:
            raise ValueError(f"{template_file}: expected a mapping with keys among "
                             f"{sorted(DEFAULT_TEMPLATES)}, got {unknown if unknown else custom!r}")
        templates.update({k: str(v) for k, v in custom.items()})
    return templates


class PromptBuilder:
    """Renders the chat messages of one style and domain."""

    def __init__(self, style="short", domain="movies", template_file=None):
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {sorted(DOMAINS)}, got {domain!r}")
        self.templates = load_templates(template_file)
        if style not in ("short", "long"):
            raise ValueError(f"style must be 'short' or 'long', got {style!r}")
        self.style = style
        self.words = dict(DOMAINS[domain])
        self.words["instruction"] = self.templates[style].format(**self.words)

    def _chat(self, template, **values):
        return [
            {"role": "system", "content": self.templates["system"].format(**self.words)},
            {"role": "user", "content": self.templates[template].format(**self.words, **values)},
        ]

    def profile(self, lines):
        return self._chat("profile", history="\n".join(lines))

    def merge(self, profiles):
        numbered = "\n\n".join(f"Part {i}:\n{text.strip()}" for i, text in enumerate(profiles, 1))
        return self._chat("merge", profiles=numbered, n_parts=len(profiles))

    def update(self, profile, lines):
        return self._chat("update", profile=profile.strip(), history="\n".join(lines))

    def fingerprint(self):
        """A hash of everything in the templates that shapes a profile (for the cache key)."""
        return stable_hash({"templates": self.templates, "words": self.words, "style": self.style})


def stable_hash(value):
    """A short sha256 hex digest of a JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
