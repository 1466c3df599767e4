"""The sequential dataset of the KD models: RecBole's ``SequentialDataset`` plus the profile field.

The profile vectors are a ``float_seq`` user feature (default name ``profile_emb``) in the
dataset's ``.user`` atomic file, or in the ``.user`` file that ``kd_profile_file`` names::

    user_id:token	profile_emb:float_seq
    196	0.8125 -1.5 0.25 3.0
    186	0.5 0.0 -2.25 1.75

What this class changes, and why:

* the profile field is always loaded (added to ``load_col['user']``), whatever the dataset's
  YAML lists;
* it is never normalised, even under ``normalize_all: True`` (ml-100k's YAML sets it);
* users without a profile row keep all their interactions (RecBole's
  ``filter_inter_by_user_or_item`` would drop them); they get an all-zero vector, which the
  models read as "no profile". Users are remapped in order of first appearance in ``.inter``,
  so the split is the same as the baseline's;
* the file is checked line by line before RecBole reads it
  (:mod:`recbole_llmkd.formats.profile_file`): encoding, header, separators, numbers, length
  (``kd_profile_dim`` when set), finite float32 values, one row per user. Empty cells are allowed
  and mean "no profile";
* a file none of whose profiled users has interactions is refused; otherwise the number of
  profiled users is logged (a warning when it is under half of the users).
"""

import os

import numpy as np
from recbole.data.dataset import SequentialDataset
from recbole.utils import FeatureSource

from recbole_llmkd.kd_settings import check
from recbole_llmkd.formats.profile_file import ProfileFileError, read_profile_file

__all__ = ["KDSequentialDataset", "ProfileFileError"]


class KDSequentialDataset(SequentialDataset):
    def _get_field_from_config(self):
        super()._get_field_from_config()
        self.profile_field = check("kd_profile_field", self.config["kd_profile_field"])

    @property
    def profile_user_file(self):
        """The ``.user`` file the profiles were loaded from (None before loading)."""
        return getattr(self, "_profile_path", None)

    def profile_file_path(self, token, dataset_path):
        path = self.config["kd_profile_file"]
        return os.fspath(path) if path else os.path.join(dataset_path, f"{token}.user")

    def _get_load_and_unload_col(self, source):
        load_col, unload_col = super()._get_load_and_unload_col(source)
        if source in (FeatureSource.USER, FeatureSource.USER.value):
            if unload_col and self.profile_field in unload_col:
                raise ValueError(
                    f"config key 'unload_col' drops the profile field {self.profile_field!r} "
                    "that the KD model needs"
                )
            if load_col is not None:
                load_col = load_col | {self.uid_field, self.profile_field}
        return load_col, unload_col

    def _load_user_or_item_feat(self, token, dataset_path, source, field_name):
        if source != FeatureSource.USER:
            return super()._load_user_or_item_feat(token, dataset_path, source, field_name)
        path = self.profile_file_path(token, dataset_path)
        if not path.endswith(".user"):
            raise ProfileFileError(f"kd_profile_file {path!r}: expected a RecBole atomic file named *.user")
        if not os.path.isfile(path):
            raise ProfileFileError(
                f"profile file {path} not found: the KD models read user profiles from the "
                f"float_seq field {self.profile_field!r} of a .user atomic file (write one with "
                "`python -m recbole_llmkd.profiles`, or point config key 'kd_profile_file' at it)"
            )
        dim = check("kd_profile_dim", self.config["kd_profile_dim"])
        self._profile_path = path
        # checked line by line first: RecBole's reader fails on a malformed file without naming it
        self._profile_table = read_profile_file(
            path, self.uid_field, self.profile_field, field_separator=self.config["field_separator"],
            seq_separator=self.config["seq_separator"], encoding=self.config["encoding"] or "utf-8",
            expected_dim=dim)
        directory, name = os.path.split(path)
        return super()._load_user_or_item_feat(name[: -len(".user")], directory, source, field_name)

    def _reset_index(self):
        if self.user_feat is not None and self.user_feat.empty:
            raise ProfileFileError(
                f"{self._profile_path}: none of its users remains after filtering (the users it lists "
                "have no interactions left under the dataset's filters)"
            )
        super()._reset_index()

    def _change_feat_format(self):
        super()._change_feat_format()
        self._report_coverage()

    def _report_coverage(self):
        """Refuse a file none of whose users has interactions; log how many users are profiled."""
        matched, n_users = self.profile_coverage()
        table = self._profile_table
        if matched == 0:
            users = np.unique(self.inter_feat[self.uid_field].numpy())
            shown = ", ".join(repr(u) for u in table.users[:3])
            tokens = ", ".join(repr(str(t)) for t in self.id2token(self.uid_field, users[:3]))
            raise ProfileFileError(
                f"{self._profile_path}: none of its {int(table.present().sum())} profiled users is a user "
                f"of dataset {self.dataset_name!r} with interactions ({n_users} users); the file's "
                f"first user ids are {shown}, the dataset's {tokens}: the {self.uid_field!r} tokens must "
                "be those of the .inter file"
            )
        message = (f"profiles: {matched} of {n_users} users have a profile vector "
                   f"({self._profile_path}: {len(table.users)} rows)")
        if matched < 0.5 * n_users:
            self.logger.warning(message + "; fewer than half of the users are distilled")
        else:
            self.logger.info(message)

    def _filter_inter_by_user_or_item(self):
        user_feat, self.user_feat = self.user_feat, None
        try:
            super()._filter_inter_by_user_or_item()
        finally:
            self.user_feat = user_feat

    def _normalize(self):
        if self.config["normalize_field"] and self.profile_field in self.config["normalize_field"]:
            raise ValueError(
                f"config key 'normalize_field' lists the profile field {self.profile_field!r}; "
                "profiles must not be rescaled"
            )
        super()._normalize()

    @property
    def float_like_fields(self):
        """All float fields but the profile, so that ``normalize_all`` leaves the profile alone."""
        return [f for f in super().float_like_fields if f != self.profile_field]

    def profile_coverage(self):
        """(users with a profile, users) over the users that have interactions."""
        profiles = self.user_feat[self.profile_field]
        has_profile = (profiles != 0).any(dim=-1)
        users = np.unique(self.inter_feat[self.uid_field].numpy())
        return int(has_profile[users].sum()), len(users)
