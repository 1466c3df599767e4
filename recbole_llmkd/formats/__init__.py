"""The shared data formats: what the teacher (:mod:`recbole_llmkd.profiles`) writes and training reads.

* :mod:`~recbole_llmkd.formats.files`: atomic-file reading, all-or-nothing writes, the ``.user`` writer,
  dataset paths;
* :mod:`~recbole_llmkd.formats.profile_file`: the profile ``.user`` file, checked line by line;
* :mod:`~recbole_llmkd.formats.split`: the no-leakage rule (which interactions a profile may see).

They import nothing else of the package: neither the method, nor RecBole, nor the teacher.
"""
