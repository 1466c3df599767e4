"""Entry points that mirror ``recbole.quick_start`` and also know the KD models.

They are RecBole's own functions, called after :func:`recbole_llmkd.register` (which importing
this package already did); any RecBole model name works too, so baselines run the same way.
"""

import recbole.quick_start as recbole_quick_start

from recbole_llmkd.registry import register


def run_recbole_kd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, queue=None):
    """Train and test one model; returns RecBole's result dict
    (``best_valid_score``, ``valid_score_bigger``, ``best_valid_result``, ``test_result``)."""
    register()
    return recbole_quick_start.run_recbole(
        model=model,
        dataset=dataset,
        config_file_list=config_file_list,
        config_dict=config_dict,
        saved=saved,
        queue=queue,
    )


def run(model, dataset, config_file_list=None, config_dict=None, saved=True, nproc=1, world_size=-1,
        ip="localhost", port="5678", group_offset=0):
    """RecBole's ``run``: one process, or ``nproc`` processes with torch.distributed."""
    register()
    return recbole_quick_start.run(
        model, dataset, config_file_list=config_file_list, config_dict=config_dict, saved=saved,
        nproc=nproc, world_size=world_size, ip=ip, port=port, group_offset=group_offset,
    )


def load_data_and_model(model_file):
    """RecBole's ``load_data_and_model`` for checkpoints of KD and RecBole models alike."""
    register()
    return recbole_quick_start.load_data_and_model(model_file)
