"""recbole-llmkd: user-profile knowledge distillation for RecBole's SASRec and BERT4Rec.

``import recbole_llmkd`` applies the compatibility shims (:mod:`recbole_llmkd.compat`) and
registers ``SASRecKD`` and ``BERT4RecKD`` with RecBole, so that RecBole's own ``run_recbole``,
``load_data_and_model``, ``get_model`` and ``get_trainer`` find them by name.
"""

from recbole_llmkd import compat

compat.apply()

from recbole_llmkd.dataset import KDSequentialDataset  # noqa: E402
from recbole_llmkd.model import BERT4RecKD, SASRecKD  # noqa: E402
from recbole_llmkd.registry import register  # noqa: E402
from recbole_llmkd.trainer import KDTrainer  # noqa: E402

register()

__version__ = "0.1.0"
__all__ = ["SASRecKD", "BERT4RecKD", "KDTrainer", "KDSequentialDataset", "register"]
