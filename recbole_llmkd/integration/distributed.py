"""RecBole's distributed training (``--nproc N``) on machines without CUDA.

RecBole 1.2.1 assumes a GPU per process: ``Config._init_device`` asserts that ``gpu_id`` lists
``nproc`` devices, starts the process group with NCCL and puts the model on ``cuda:<rank>``, and the
trainer wraps the model in ``DistributedDataParallel(model, device_ids=[rank])``, which torch
refuses for a CPU module. Two shims make the same code path run on CPUs with the gloo backend:

* :func:`_init_device`: when the process is one of a distributed group (RecBole's ``run`` put
  ``local_rank`` into its config) and CUDA is not used, it starts a gloo process group at RecBole's
  ``tcp://ip:port`` with rank ``local_rank + offset``, sets the device to the CPU, and quiets every
  rank but 0 as RecBole does for GPUs (``state: error``, no progress bars). Otherwise RecBole's own
  ``_init_device`` runs unchanged (NCCL on GPUs).
* :func:`_distributed_data_parallel`: the name RecBole's trainer module calls; it passes
  ``device_ids`` only for a module on a GPU.

A third fixes a race that RecBole's distributed runs have on GPUs too: only rank 0 writes the
checkpoint, each rank names it by its own clock (``<model>-<time>.pth``), and at the end every rank
loads "its" file to test the best model, possibly before rank 0 has finished writing it, or under a
name rank 0 never wrote. :func:`_save_checkpoint_then_share` makes every rank wait until rank 0 has
written and use rank 0's file name.

A fourth fixes a race of RecBole's ``ensure_dir`` (check, then create): every rank creates
``./log`` and the checkpoint folder at the same moment, and a rank that lost the race died with
``FileExistsError`` (seen on the CI machine under load). :func:`_ensure_dir` creates with ``exist_ok``.

Everything else is RecBole's: ``DistributedSampler`` gives each rank ``1/N`` of the training
batches (``train_batch_size // N`` examples each), gradients are all-reduced, evaluation results
are averaged over ranks weighted by their users, and only rank 0 writes the checkpoint.
"""

import importlib
import os

import torch
import torch.distributed as dist
import recbole.trainer.trainer as recbole_trainer
from recbole.config import Config
from recbole.utils.utils import ensure_dir as _recbole_ensure_dir  # noqa: F401  (kept: the tests show its race)

_original_init_device = Config._init_device
_original_ddp = recbole_trainer.DistributedDataParallel
_original_save_checkpoint = recbole_trainer.Trainer._save_checkpoint


def _uses_cuda(config_dict):
    return bool(config_dict.get("use_gpu", True)) and torch.cuda.is_available() and str(config_dict.get("gpu_id", ""))


def _init_device(self):
    settings = self.final_config_dict
    if "local_rank" not in settings or _uses_cuda(settings):
        return _original_init_device(self)
    rank = settings["local_rank"] + settings.get("offset", 0)
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", rank=rank, world_size=settings["world_size"],
                                init_method=f"tcp://{settings['ip']}:{settings['port']}")
    settings["device"] = torch.device("cpu")
    settings["single_spec"] = False
    if settings["local_rank"] != 0:
        settings["state"] = "error"
        settings["show_progress"] = False
        settings["verbose"] = False


def _distributed_data_parallel(module, device_ids=None, **kwargs):
    on_gpu = any(p.is_cuda for p in module.parameters())
    return _original_ddp(module, device_ids=device_ids if on_gpu else None, **kwargs)


def _save_checkpoint_then_share(self, epoch, verbose=True, **kwargs):
    # every rank reaches this together: the decision to save follows the validation score, which
    # RecBole averages over the ranks before any of them sees it
    _original_save_checkpoint(self, epoch, verbose=verbose, **kwargs)
    if not self.config["single_spec"] and dist.is_initialized():
        names = [kwargs.get("saved_model_file", self.saved_model_file)]
        dist.broadcast_object_list(names, src=0)
        if "saved_model_file" not in kwargs:
            self.saved_model_file = names[0]
        dist.barrier()


def _ensure_dir(dir_path):
    os.makedirs(dir_path, exist_ok=True)


# RecBole's modules that call ensure_dir by the name they imported
_ENSURE_DIR_MODULES = ("recbole.utils.utils", "recbole.utils", "recbole.utils.logger", "recbole.trainer.trainer",
                       "recbole.data.utils", "recbole.data.dataset.dataset")


def as_single_process(config):
    """A config unpickled from a distributed run's checkpoint, in a process outside any process group
    (``load_data_and_model`` in a notebook): made a single-process config, so that the data loaders
    and the trainer do not wait for ranks that do not exist. Inside a process group it is left alone."""
    settings = config.final_config_dict
    if not settings.get("single_spec", True) and not dist.is_initialized():
        settings["single_spec"] = True
        settings["local_rank"] = 0


def enable_cpu_distributed():
    """Install the shims (idempotent)."""
    Config._init_device = _init_device
    recbole_trainer.DistributedDataParallel = _distributed_data_parallel
    recbole_trainer.Trainer._save_checkpoint = _save_checkpoint_then_share
    for name in _ENSURE_DIR_MODULES:
        setattr(importlib.import_module(name), "ensure_dir", _ensure_dir)
