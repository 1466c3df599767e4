"""YAML defaults of recbole-llmkd, installed as the package ``recbole_llmkd.properties``."""
