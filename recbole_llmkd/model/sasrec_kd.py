"""SASRec with user-profile distillation (SASRecKD)."""

from recbole.model.sequential_recommender.sasrec import SASRec

from recbole_llmkd.model.kd_model import DistillationMixin


class SASRecKD(DistillationMixin, SASRec):
    r"""SASRec trained with ``α·β·L_distil + (1−α)·L_rec`` in stage 1; served as plain SASRec.

    ``kd_layer`` indexes SASRec's transformer blocks: 0 is the output of the first block (item +
    position embeddings after one self-attention block), -1 the last block, whose output at the
    last position is the sequence representation SASRec scores items with.
    Valid positions are the non-padding ones (``item_seq != 0``).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self._init_distillation(config, dataset)

    def kd_valid_positions(self, interaction):
        return interaction[self.ITEM_SEQ] != 0
