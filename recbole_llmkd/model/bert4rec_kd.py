"""BERT4Rec with user-profile distillation (BERT4RecKD)."""

from recbole.model.sequential_recommender.bert4rec import BERT4Rec

from recbole_llmkd.model.kd_model import DistillationMixin


class BERT4RecKD(DistillationMixin, BERT4Rec):
    r"""BERT4Rec trained with ``α·β·L_distil + (1−α)·L_rec`` in stage 1; served as plain BERT4Rec.

    ``kd_layer`` indexes BERT4Rec's transformer blocks: 0 is the output of the first
    (bidirectional) block, -1 the last block, taken before BERT4Rec's output head
    (``output_ffn`` → GELU → LayerNorm), which is left to the recommendation loss.
    Training sees the masked sequence of RecBole's ``mask_itemseq`` transform; valid positions are
    those that hold a real item: neither padding (0) nor the mask token (``n_items``).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self._init_distillation(config, dataset)

    def kd_valid_positions(self, interaction):
        masked_seq = interaction[self.MASK_ITEM_SEQ]
        return (masked_seq != 0) & (masked_seq != self.mask_token)
