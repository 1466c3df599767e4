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
* the file is checked when it is read: present, the field present and of type ``float_seq``,
  every non-empty vector of the same length (``kd_profile_dim`` when set), finite, one row per user.
  Empty cells are allowed and mean "no profile".
"""

import os
from collections import Counter

import numpy as np
from recbole.data.dataset import SequentialDataset
from recbole.utils import FeatureSource, FeatureType


class ProfileFileError(ValueError):
    """The profile ``.user`` file is missing or not what the KD models need."""


def _line(index):
    return int(index) + 2  # the header is line 1; pandas numbers data rows from 0


class KDSequentialDataset(SequentialDataset):
    def _get_field_from_config(self):
        super()._get_field_from_config()
        self.profile_field = self.config["kd_profile_field"]

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
        self._profile_path = path
        directory, name = os.path.split(path)
        return super()._load_user_or_item_feat(name[: -len(".user")], directory, source, field_name)

    def _load_feat(self, filepath, source):
        feat = super()._load_feat(filepath, source)
        if source == FeatureSource.USER:
            self._check_profiles(feat, filepath)
        return feat

    def _check_profiles(self, feat, path):
        field = self.profile_field
        if feat is None or field not in feat.columns:
            raise ProfileFileError(
                f"{path}: the header has no field '{field}:float_seq' (config key 'kd_profile_field'); "
                "point config key 'kd_profile_file' at the .user file that holds the profiles"
            )
        if self.field2type[field] != FeatureType.FLOAT_SEQ:
            raise ProfileFileError(
                f"{path}: field {field!r} is declared as {self.field2type[field].value}; expected float_seq"
            )
        duplicated = feat[self.uid_field].duplicated(keep=False)
        if duplicated.any():
            index = feat.index[duplicated][1]
            raise ProfileFileError(
                f"{path} line {_line(index)}: user {feat.at[index, self.uid_field]!r} has more than one row"
            )
        lengths = feat[field].map(len)
        present = lengths[lengths > 0]
        if present.empty:
            raise ProfileFileError(f"{path}: no user has a profile vector in field {field!r}")
        expected = self.config["kd_profile_dim"] or Counter(present).most_common(1)[0][0]
        wrong = present[present != expected]
        if not wrong.empty:
            index = wrong.index[0]
            raise ProfileFileError(
                f"{path} line {_line(index)} (user {feat.at[index, self.uid_field]!r}): profile has "
                f"{wrong.iloc[0]} values, expected {expected}"
            )
        finite = feat.loc[present.index, field].map(lambda v: bool(np.isfinite(v).all()))
        if not finite.all():
            index = finite.index[~finite.to_numpy()][0]
            raise ProfileFileError(
                f"{path} line {_line(index)} (user {feat.at[index, self.uid_field]!r}): profile "
                "contains NaN or inf"
            )

    def _reset_index(self):
        if self.user_feat is not None and self.user_feat.empty:
            raise ProfileFileError(
                f"{self._profile_path}: none of its users remains after filtering (the users it lists "
                "have no interactions left under the dataset's filters)"
            )
        super()._reset_index()

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
