"""What SASRecKD and BERT4RecKD add to their RecBole parents: the distillation term of the loss.

Serving is untouched: ``forward``, ``predict`` and ``full_sort_predict`` are the parent's, and the
parameters they use are the parent's. The distillation head's parameters all live under
``kd_head.`` and :meth:`DistillationMixin.serving_state_dict` drops them, so a plain
``SASRec``/``BERT4Rec`` loads a trained KD model's weights with ``strict=True``.

Training on RecBole's sequential datasets uses every prefix of a user's training sequence as an
example; the user's one profile vector is the distillation target for each prefix (the profile
summarises the whole training history, and a prefix is that history seen earlier).
"""

from contextlib import contextmanager

from recbole_llmkd.kd_settings import KDSettings
from recbole_llmkd.model.distillation import KDLoss, ProfileDistillation, combine_losses, profile_statistics

KD_PARAM_PREFIX = "kd_head."


class DistillationMixin:
    """Mix in before a RecBole transformer model: ``class SASRecKD(DistillationMixin, SASRec)``."""

    def _init_distillation(self, config, dataset):
        """The distillation head, from :class:`~recbole_llmkd.kd_settings.KDSettings` read once from
        ``config`` (kept as ``kd_settings``: the trainer reads its keys there)."""
        settings = self.kd_settings = KDSettings.from_config(config)
        self.kd_alpha = settings.kd_alpha
        self.kd_dynamic_scale = settings.kd_dynamic_scale
        self.kd_beta_max = settings.kd_beta_max
        self.kd_layer = settings.kd_layer
        n_blocks = len(self.trm_encoder.layer)
        if not -n_blocks <= self.kd_layer < n_blocks:
            raise ValueError(
                f"config key 'kd_layer' is {self.kd_layer}; the encoder has {n_blocks} blocks, "
                f"so expected an index in [{-n_blocks}, {n_blocks - 1}] (-1 = last block)"
            )
        self.kd_profile_field = settings.kd_profile_field
        if self.kd_profile_field not in dataset.field2type:
            raise ValueError(
                f"{type(self).__name__} needs the user feature {self.kd_profile_field!r} (config key "
                f"'kd_profile_field'), but the dataset has no such field; build the dataset through "
                f"recbole_llmkd (the KD dataset loads it from the .user file)"
            )
        profile_dim = dataset.field2seqlen[self.kd_profile_field]
        stats = profile_statistics(dataset.user_feat[self.kd_profile_field]) if settings.kd_standardize else None
        self.kd_head = ProfileDistillation(
            profile_dim=profile_dim,
            hidden_size=self.hidden_size,
            aggregation=settings.kd_aggregation,
            gamma=settings.kd_gamma,
            loss=settings.kd_loss,
            direction=settings.kd_direction,
            projection=settings.kd_projection,
            temperature=settings.kd_temperature,
            profile_stats=stats,
            max_positions=self.max_seq_length,
        )
        self.kd_head.apply(self._init_weights)
        self.kd_head.reset_frozen_projection()
        self.kd_active = True

    def set_distillation(self, active):
        """Stage 1 (True): combined loss. Stage 2 (False): the parent's loss alone, and the
        distillation head takes no part in the graph, so its parameters get no gradient."""
        self.kd_active = bool(active)

    def kd_valid_positions(self, interaction):
        """Boolean [B, L]: the positions of the encoder input that the aggregation may use."""
        raise NotImplementedError

    @contextmanager
    def _capture_encoder_layers(self):
        captured = []
        handle = self.trm_encoder.register_forward_hook(lambda m, i, out: captured.append(out))
        try:
            yield captured
        finally:
            handle.remove()

    def recommendation_loss(self, interaction):
        """The parent's loss (the fast path may put an equal, cheaper one on the instance)."""
        return super().calculate_loss(interaction)

    def calculate_kd_loss(self, interaction):
        """The combined loss and its parts, from one forward pass through the encoder."""
        if not self.kd_active or self.kd_alpha == 0.0:
            rec = self.recommendation_loss(interaction)
            zero = rec.detach().new_zeros(())
            return KDLoss(total=rec, rec=rec, distil=zero, beta=zero, n_profiled=zero, pooled_spread=zero,
                          target_spread=zero)
        with self._capture_encoder_layers() as captured:
            rec = self.recommendation_loss(interaction)
        if len(captured) != 1:
            raise RuntimeError(f"expected one encoder pass per loss, got {len(captured)}")
        hidden = captured[0][self.kd_layer]
        valid = self.kd_valid_positions(interaction)
        profile = interaction[self.kd_profile_field]
        distil, n_profiled = self.kd_head.distil_loss(hidden, valid, profile, interaction[self.USER_ID])
        total, beta = combine_losses(rec, distil, self.kd_alpha, self.kd_dynamic_scale, self.kd_beta_max)
        pooled_spread, target_spread = self.kd_head.last_spread
        return KDLoss(total=total, rec=rec, distil=distil, beta=beta, n_profiled=n_profiled,
                      pooled_spread=pooled_spread, target_spread=target_spread)

    def calculate_loss(self, interaction):
        return self.calculate_kd_loss(interaction).total

    def serving_state_dict(self):
        """The state dict of the parent model: everything but the distillation head."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(KD_PARAM_PREFIX)}
