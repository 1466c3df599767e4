from recbole_llmkd.kd_settings import KD_MODELS
from recbole_llmkd.model.bert4rec_kd import BERT4RecKD
from recbole_llmkd.model.sasrec_kd import SASRecKD

__all__ = list(KD_MODELS)  # each a class of this package (tests/test_kd_settings.py)
