"""The harness around the method: measured runs and the main job.

* :mod:`~recbole_llmkd.harness.experiment`: ``train_and_test``, one run plus what a benchmark compares;
* :mod:`~recbole_llmkd.harness.measure`: the trainer subclass that takes those measurements;
* :mod:`~recbole_llmkd.harness.main_job`: ``run_recbole_kd.py --pipeline`` (profiles, baseline, KD model,
  comparison table).
"""
