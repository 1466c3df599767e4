"""KDTrainer: RecBole's Trainer with the two training stages of the paper.

* Stage 1, epochs ``0 .. kd_epochs-1``: the combined loss ``α·β·L_distil + (1−α)·L_rec``.
* Stage 2, epochs ``kd_epochs .. epochs-1``: ``L_rec`` alone (fine-tuning); the distillation head
  is out of the graph and gets no gradient. ``epochs`` is the total of both stages;
  ``kd_epochs: ~`` means half of it.
* ``kd_stages: 1`` trains with the combined loss for the whole run: no switch, no optimizer
  rebuild, no patience reset, RecBole's early stopping exactly as for the parent model (the
  distillation term as a plain regulariser; ``kd_epochs`` is not read).

Choices (documented in the README too):

* The optimizer is rebuilt at the switch (``kd_reset_optimizer: True``, the default): stage 1's
  moment estimates, shaped by the distillation term, would otherwise shrink stage 2's steps.
  ``kd_reset_optimizer: False`` keeps it, as the paper does (the head's parameters simply stop
  receiving gradients).
* Early stopping's patience restarts at the switch, and if stage 1 exhausts its patience
  (``stopping_step`` evaluations without improvement) the run switches to stage 2 early instead
  of ending before fine-tuning.
* The returned model is RecBole's: the best checkpoint on the validation metric over both
  stages; the test set is never used to choose it.

Only ``_train_epoch`` is overridden: it switches stage before calling RecBole's epoch loop and
logs ``L_rec``, ``L_distil`` and ``β`` (batch means) after it; under RecBole's distributed training
the means are over all ranks' batches, and only rank 0 logs them (RecBole quiets the others).
"""

import torch
import torch.distributed as dist
from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_llmkd.kd_settings import KDSettings


def all_ranks_sum(tensor, config):
    """``tensor`` summed over the ranks of a distributed run, in place; unchanged in a single process."""
    if not config["single_spec"] and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


class KDTrainer(Trainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        # the KD model's settings (read once from the config), else read here
        settings = getattr(model, "kd_settings", None) or KDSettings.from_config(config)
        self.kd_single_stage = settings.kd_stages == 1
        kd_epochs = settings.kd_epochs
        self.kd_epochs = self.epochs // 2 if kd_epochs is None else kd_epochs
        if kd_epochs is None and self.kd_epochs == 0 and not self.kd_single_stage:
            raise ValueError(
                f"config key 'kd_epochs' is ~ (half of epochs), which is 0 with epochs={self.epochs}: "
                "distillation would never run; train for 2 or more epochs, or set kd_epochs: 0 to train "
                "without distillation on purpose"
            )
        if not 0 <= self.kd_epochs <= self.epochs:
            raise ValueError(
                f"config key 'kd_epochs' is {kd_epochs}; expected 0..epochs ({self.epochs}) "
                "or ~ for half of the epochs"
            )
        self.kd_reset_optimizer = settings.kd_reset_optimizer
        self.kd_switch_epoch = None  # the first epoch of stage 2, once it is reached
        self.kd_history = []  # one dict per trained epoch: stage and mean loss parts

    def kd_stage(self, epoch_idx):
        if self.kd_single_stage:
            return 1
        if self.kd_switch_epoch is not None and epoch_idx >= self.kd_switch_epoch:
            return 2
        return 1 if epoch_idx < self.kd_epochs else 2

    def _start_stage_two(self, epoch_idx, reason):
        self.kd_switch_epoch = epoch_idx
        self.model.set_distillation(False)
        self.cur_step = 0
        if self.kd_reset_optimizer:
            self.optimizer = self._build_optimizer()
        self.logger.info(
            set_color(f"epoch {epoch_idx}: stage 2 (fine-tuning on L_rec) starts", "yellow")
            + f" [{reason}; optimizer {'rebuilt' if self.kd_reset_optimizer else 'kept'}]"
        )

    def _update_stage(self, epoch_idx):
        if self.kd_single_stage:
            self.model.set_distillation(True)
            return
        if self.kd_switch_epoch is not None:
            return
        if epoch_idx >= self.kd_epochs:
            self._start_stage_two(epoch_idx, f"kd_epochs={self.kd_epochs}")
        elif self.stopping_step is not None and self.cur_step >= self.stopping_step:
            self._start_stage_two(epoch_idx, f"stage 1 stalled for {self.cur_step} evaluations")
        else:
            self.model.set_distillation(True)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self._update_stage(epoch_idx)
        # sums over the epoch's batches: L_rec, L_distil, β, pooled and target spread, profiled
        # examples, batches
        sums = torch.zeros(7, dtype=torch.float64, device=self.device)
        one = torch.ones((), dtype=torch.float64, device=self.device)

        def kd_loss(interaction):
            parts = self.model.calculate_kd_loss(interaction)
            sums.add_(torch.stack([parts.rec.detach().double(), parts.distil.detach().double(),
                                   parts.beta.double(), parts.pooled_spread.double(),
                                   parts.target_spread.double(), parts.n_profiled.double(), one]))
            return parts.total

        loss = super()._train_epoch(train_data, epoch_idx, loss_func or kd_loss, show_progress)
        all_ranks_sum(sums, self.config)  # under --nproc N: the means over every rank's batches
        if sums[6] > 0:
            self._log_kd_epoch(epoch_idx, sums[:5] / sums[6], int(sums[5]))
        return loss

    def _log_kd_epoch(self, epoch_idx, means, n_profiled):
        rec, distil, beta, pooled_spread, target_spread = means.tolist()
        stage = self.kd_stage(epoch_idx)
        self.kd_history.append(
            {"epoch": epoch_idx, "stage": stage, "L_rec": rec, "L_distil": distil, "beta": beta,
             "pooled_spread": pooled_spread, "target_spread": target_spread, "profiled_examples": n_profiled}
        )
        places = self.config["loss_decimal_place"] or 4
        message = set_color(f"epoch {epoch_idx} stage {stage}", "green") + f" [L_rec: {rec:.{places}f}"
        if stage == 1:
            message += (f", L_distil: {distil:.{places}f}, beta: {beta:.{places}f}, spread pooled/target: "
                        f"{pooled_spread:.{places}f}/{target_spread:.{places}f}, profiled examples: {n_profiled}")
        self.logger.info(message + "]")
        self.tensorboard.add_scalar("KD/L_rec", rec, epoch_idx)
        if stage == 1:
            self.tensorboard.add_scalar("KD/L_distil", distil, epoch_idx)
            self.tensorboard.add_scalar("KD/beta", beta, epoch_idx)
