from recbole_llmkd.model.bert4rec_kd import BERT4RecKD
from recbole_llmkd.model.sasrec_kd import SASRecKD

__all__ = ["SASRecKD", "BERT4RecKD"]
