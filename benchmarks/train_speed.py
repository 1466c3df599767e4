"""Training speed of stock RecBole vs ``fast_path: True``, measured side by side in one process.

    python benchmarks/train_speed.py                       # SASRec and BERT4Rec, RecBole's defaults
    python benchmarks/train_speed.py --models SASRec --rounds 3 --batches 4
    python benchmarks/train_speed.py --models BERT4Rec --dataset beauty --data-path output/data \
        --config benchmarks/budgets/converged.yaml     # the grid's Beauty setting

For each model, two trainers start from the same weights (one seed): RecBole's model as it is, and a
copy on the fast path (``recbole_llmkd/fast_path.py``). Each round runs the same ``--batches``
training batches through both, one optimizer step per batch via RecBole's own
``Trainer._train_epoch``, alternating which goes first batch by batch; whole epochs on shared
cores drift by ±10% from one to the next, interleaved steps do not. BERT4Rec gets a third trainer,
the fast path with RecBole's own loss (``full loss``: every masked slot scored, padding included), so
the gain of scoring only the real masked slots shows on its own. Seconds per epoch = the median
step time × batches per epoch + one pass of the training data loader (timed once, the same for
both, since the fast path does not touch data loading). ``speedup`` is the median over rounds of
the per-round stock/fast ratio of those epoch times; the last line is SASRec's (the target).

Then a profile of one fast-path training step: each part's forward and backward timed on its own,
on the inputs the real step gave it (captured by forward hooks): the attention and feed-forward
blocks (× the number of layers), the output layer with its softmax loss, the optimizer step, and
the data loader's share of a batch; "rest" is the step minus those (embeddings, masks, layer
norms and dropout outside the blocks, autograd bookkeeping).
"""

import argparse
import copy
import os
import statistics
import tempfile
import time

import torch

from recbole_llmkd.fast_path import apply_fast_path
from recbole_llmkd.integration.quick_start import build_model, prepare_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(model, dataset, config_dict, config_files):
    """(``{name: trainer}`` with the same weights: stock, fast path and, for BERT4Rec, the fast path
    with RecBole's full loss; training data; config), at RecBole's defaults unless ``config_files``."""
    from recbole_llmkd.integration.config import get_trainer

    config, _, train, _, _ = prepare_run(model, dataset, config_dict, config_files)
    stock, _ = build_model(config, train, fast_path=False)
    models = {"stock": stock, "fast_path": copy.deepcopy(stock)}
    if apply_fast_path(models["fast_path"])["masked_item_loss"]:
        models["full_loss"] = copy.deepcopy(stock)
        apply_fast_path(models["full_loss"])
        del models["full_loss"].calculate_loss  # the instance's masked-slot loss: back to RecBole's
    trainer_class = get_trainer(config["MODEL_TYPE"], model)
    return {name: trainer_class(config, net) for name, net in models.items()}, train, config


def loader_seconds(train):
    """Wall time of one full pass of the training data loader (what each epoch pays besides steps)."""
    start = time.perf_counter()
    for _ in train:
        pass
    return time.perf_counter() - start


def time_rounds(trainers, batches, rounds):
    """Per round, the seconds each trainer spent on all ``batches`` (one optimizer step each)."""
    seconds = {name: [] for name in trainers}
    for name, trainer in trainers.items():  # warm-up, not timed: allocator and thread pools settle
        trainer._train_epoch(batches[:2], 0)
    for round_idx in range(rounds):
        totals = dict.fromkeys(trainers, 0.0)
        for i, batch in enumerate(batches):
            order = list(trainers) if (i + round_idx) % 2 == 0 else list(trainers)[::-1]
            for name in order:
                start = time.perf_counter()
                trainers[name]._train_epoch([batch], 0)
                totals[name] += time.perf_counter() - start
        for name in trainers:
            seconds[name].append(totals[name])
        print(f"  round {round_idx}: " + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in trainers), flush=True)
    return seconds


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first call warms up


def forward_backward(module, inputs):
    """A callable that runs ``module`` forward and backward on fresh leaf copies of ``inputs``."""
    def run():
        leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
        out = module(*leaves)
        out.sum().backward()
    return run


def profile_step(trainer, batch, repeats):
    """Seconds of one training step and of its parts (see the module docstring); parts sum to the step."""
    model = trainer.model
    model.train()
    layer = model.trm_encoder.layer[0]
    captured = {}

    def capture(name):
        def hook(module, inputs, output):  # returns None: the step's output is left as it is
            captured.setdefault(name, inputs)
        return hook

    hooks = [layer.multi_head_attention.register_forward_hook(capture("attention")),
             layer.feed_forward.register_forward_hook(capture("feed_forward"))]
    encoder_output = {}
    original_forward = model.forward

    def recording_forward(*args, **kwargs):
        out = original_forward(*args, **kwargs)
        encoder_output.setdefault("out", out)
        return out

    model.forward = recording_forward
    step = median_seconds(lambda: trainer._train_epoch([batch], 0), repeats)
    model.forward = original_forward
    for hook in hooks:
        hook.remove()

    n_layers = len(model.trm_encoder.layer)
    parts = {
        "attention blocks": n_layers * median_seconds(
            forward_backward(layer.multi_head_attention, captured["attention"]), repeats),
        "feed-forward blocks": n_layers * median_seconds(
            forward_backward(layer.feed_forward, captured["feed_forward"]), repeats),
    }

    def output_and_loss():
        """The loss computed from the encoder's output: the output layer, logits over all items, softmax."""
        leaf = encoder_output["out"].detach().clone().requires_grad_(True)
        model.forward = lambda *args, **kwargs: leaf
        try:
            model.calculate_loss(batch).backward()
        finally:
            model.forward = original_forward

    parts["output layer + softmax loss"] = median_seconds(output_and_loss, repeats)
    model.zero_grad()
    model.calculate_loss(batch).backward()
    parts["optimizer step"] = median_seconds(trainer.optimizer.step, repeats)
    parts["rest of the step"] = step - sum(parts.values())
    return step, parts


def measure(model, args, common):
    trainers, train, config = build(model, args.dataset, common, args.config)
    batches = [batch for _, batch in zip(range(args.batches), train)]
    n_batches = len(train)
    loader_s = loader_seconds(train)
    print(f"{model}: {args.rounds} rounds x {args.batches} batches of {train.batch_size} "
          f"({n_batches} batches/epoch, MAX_ITEM_LIST_LENGTH {config['MAX_ITEM_LIST_LENGTH']}, "
          f"hidden {config['hidden_size']}, {config['n_layers']} layers)", flush=True)
    seconds = time_rounds(trainers, batches, args.rounds)

    def epoch(step_total):
        return step_total / args.batches * n_batches + loader_s

    per_round = [epoch(s) / epoch(f) for s, f in zip(seconds["stock"], seconds["fast_path"])]
    step, parts = profile_step(trainers["fast_path"], batches[0], args.profile_repeats)
    parts["data loading (per batch)"] = loader_s / n_batches
    result = {name: epoch(statistics.median(seconds[name])) for name in trainers}
    if "full_loss" in trainers:
        result["masked_slots_speedup"] = statistics.median(
            epoch(f) / epoch(m) for f, m in zip(seconds["full_loss"], seconds["fast_path"]))
    return {**result, "speedup": statistics.median(per_round),
            "step": step + parts["data loading (per batch)"], "parts": parts}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["BERT4Rec", "SASRec"], choices=["SASRec", "BERT4Rec"],
                        help="the last one gives the final 'speedup:' line (default: SASRec)")
    parser.add_argument("--batches", type=int, default=6, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of interleaved timing")
    parser.add_argument("--profile-repeats", type=int, default=5, help="repeats of each profiled part")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--dataset", default="ml-100k", help="RecBole dataset name (default: the bundled ml-100k)")
    parser.add_argument("--data-path", help="folder holding <dataset>/<dataset>.inter (RecBole's data_path)")
    parser.add_argument("--config", nargs="*", default=[], metavar="YAML",
                        help="RecBole config files, e.g. benchmarks/budgets/converged.yaml (default: RecBole's defaults)")
    args = parser.parse_args(argv)

    args.config = [os.path.abspath(path) for path in args.config]  # before the chdir below
    data_path = os.path.abspath(args.data_path) if args.data_path else None
    work = tempfile.mkdtemp(prefix="train-speed-")
    os.chdir(work)  # RecBole writes ./log and ./saved
    common = {"checkpoint_dir": os.path.join(work, "saved"), "state": "WARNING", "show_progress": False,
              "use_gpu": args.device != "cpu", "epochs": 1}
    if data_path:
        common["data_path"] = data_path
    results = {model: measure(model, args, common) for model in args.models}

    setting = " + ".join(os.path.relpath(p, ROOT) for p in args.config) or "RecBole's defaults"
    print(f"\n{args.dataset} at {setting}, device={args.device}, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}")
    print(f"{'model':10s}{'stock s/epoch':>15s}{'fast s/epoch':>14s}{'speedup':>9s}"
          f"{'fast, full loss s/epoch':>25s}{'masked slots only':>19s}")
    for model, r in results.items():
        extra = (f"{r['full_loss']:25.1f}{r['masked_slots_speedup']:19.2f}" if "full_loss" in r
                 else f"{'-':>25s}{'-':>19s}")
        print(f"{model:10s}{r['stock']:15.1f}{r['fast_path']:14.1f}{r['speedup']:9.2f}{extra}")
    for model, r in results.items():
        print(f"\none fast-path training step of {model}: {1000 * r['step']:.0f} ms")
        for part, seconds in r["parts"].items():
            print(f"  {part:30s}{1000 * seconds:8.0f} ms {100 * seconds / r['step']:5.1f}%")
    print(f"\nspeedup: {results[args.models[-1]]['speedup']:.2f}")


if __name__ == "__main__":
    main()
