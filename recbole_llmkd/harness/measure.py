"""What a benchmark run measures, taken by a trainer subclass instead of by patching a trainer.

:func:`measured_trainer` derives, from any RecBole trainer class (``Trainer``, ``KDTrainer``...), a
subclass that overrides two of RecBole's own hooks and swaps in two evaluation parts:

* ``_train_epoch``: the wall time of every training epoch (``epoch_seconds``), without the
  validation passes;
* ``_save_checkpoint``: RecBole saves exactly when the validation metric improves, so the epoch it
  saves at is the best one so far (``best_epoch``; with ``saved=False`` it stays None);
* :class:`UserCollector` (a RecBole ``Collector``): also keeps the user ids of every evaluated batch;
* :class:`PerUserEvaluator` (a RecBole ``Evaluator``): also computes each user's top-k metric values
  from the same ``rec.topk`` structure whose mean RecBole reports, so the per-user means equal
  RecBole's result (the paired tests read them).
"""

import inspect
import time

import numpy as np
import torch
from recbole.evaluator import Collector, Evaluator
from recbole.evaluator import metrics as recbole_metrics

# RecBole's top-k metrics whose ``metric_info`` gives one row per user
TOPK_METRICS = {"recall": recbole_metrics.Recall, "ndcg": recbole_metrics.NDCG, "hit": recbole_metrics.Hit,
                "mrr": recbole_metrics.MRR, "precision": recbole_metrics.Precision}


class UserCollector(Collector):
    """RecBole's collector that also keeps the user ids of the evaluated batches, in order."""

    def __init__(self, config):
        super().__init__(config)
        self.uid_field = config["USER_ID_FIELD"]
        self.users = []

    def eval_batch_collect(self, scores_tensor, interaction, positive_u, positive_i):
        self.users.append(interaction[self.uid_field].cpu().numpy())
        super().eval_batch_collect(scores_tensor, interaction, positive_u, positive_i)


class PerUserEvaluator(Evaluator):
    """RecBole's evaluator that also keeps the last evaluation's per-user top-k values
    (``values``: ``{"ndcg@10": array, ...}``, in the collector's user order)."""

    def __init__(self, config):
        super().__init__(config)
        self.values = None

    def evaluate(self, dataobject):
        topk = dataobject.get("rec.topk")
        if topk is not None:
            pos_index, pos_len = torch.split(topk, [max(self.config["topk"]), 1], dim=1)
            pos_index, pos_len = pos_index.bool().numpy(), pos_len.squeeze(-1).numpy()
            self.values = {}
            for metric in self.config["metrics"]:
                cls = TOPK_METRICS.get(metric.lower())
                if cls is None:
                    continue
                metric_obj = cls(self.config)
                if "pos_len" in inspect.signature(metric_obj.metric_info).parameters:
                    per_user = metric_obj.metric_info(pos_index, pos_len)
                else:
                    per_user = metric_obj.metric_info(pos_index)
                for k in self.config["topk"]:
                    self.values[f"{metric.lower()}@{k}"] = per_user[:, k - 1]
        return super().evaluate(dataobject)


class MeasuredTrainerMixin:
    """Placed before a RecBole trainer class in the bases (see :func:`measured_trainer`)."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.epoch_seconds = []
        self.best_epoch = None
        self.eval_collector = UserCollector(config)
        self.evaluator = PerUserEvaluator(config)

    def _train_epoch(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._train_epoch(*args, **kwargs)
        finally:
            self.epoch_seconds.append(time.perf_counter() - start)

    def _save_checkpoint(self, epoch, *args, **kwargs):
        self.best_epoch = epoch
        return super()._save_checkpoint(epoch, *args, **kwargs)

    def forget_evaluated_users(self):
        """Start the per-user record afresh (before the evaluation whose users are wanted)."""
        self.eval_collector.users = []
        self.evaluator.values = None

    def per_user(self, dataset):
        """The last evaluation's users (internal index and raw token) and their metric values."""
        uid_field = self.eval_collector.uid_field
        users = self.eval_collector.users
        users = np.concatenate(users) if users else np.zeros(0, dtype=np.int64)
        values = self.evaluator.values or {}
        return {"user_index": users.tolist(), "user": [str(u) for u in dataset.id2token(uid_field, users)],
                **{name: [round(float(v), 6) for v in column] for name, column in values.items()}}


_MEASURED = {}


def measured_trainer(trainer_class):
    """``trainer_class`` with :class:`MeasuredTrainerMixin` in front (one class per trainer class)."""
    if trainer_class not in _MEASURED:
        _MEASURED[trainer_class] = type(f"Measured{trainer_class.__name__}", (MeasuredTrainerMixin, trainer_class),
                                        {"__module__": __name__})
    return _MEASURED[trainer_class]
