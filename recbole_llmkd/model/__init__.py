"""The KD models, one class per entry of :data:`recbole_llmkd.kd_settings.KD_MODELS` (tested)."""

from recbole_llmkd.model.bert4rec_kd import BERT4RecKD  # noqa: F401
from recbole_llmkd.model.sasrec_kd import SASRecKD  # noqa: F401
