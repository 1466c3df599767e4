"""The interface every generation backend offers the pipeline."""

from dataclasses import dataclass
from typing import Optional


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    output_tokens: int
    error: Optional[str] = None  # set when the call failed for good; text is then ""


class Backend:
    """``generate(batch of chat-message lists) -> [Generation]`` plus token counting.

    ``model_id`` names the model in cache keys and manifests; ``context_length`` is the most tokens
    (prompt + output) one call may use.
    """

    model_id = "unknown"
    context_length = 2048

    def generate(self, batch):
        raise NotImplementedError

    def count_messages(self, messages):
        """Prompt tokens of ``messages`` rendered for generation."""
        raise NotImplementedError

    def count_text(self, text):
        raise NotImplementedError

    def warm_up(self):
        """Load what the first ``generate`` would load (weights), so that the first batch times
        generation alone: the ETA is extrapolated from it."""

    def describe(self):
        """What the manifest records about this backend."""
        return {"backend": type(self).__name__, "model": self.model_id, "context_length": self.context_length}

    def close(self):
        pass
