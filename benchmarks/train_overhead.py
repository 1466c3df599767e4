"""Side-by-side cost of distillation: training time and full-ranking inference time,
baseline (RecBole's model and Trainer) vs KD (stage 1, combined loss), same batches, same process.

    python benchmarks/train_overhead.py --model SASRec --batches 10 --rounds 5

Each round runs the same ``--batches`` training batches through both trainers, one optimizer step
per batch via RecBole's own ``Trainer._train_epoch``, alternating baseline and KD batch by batch
(and which goes first), then one full-ranking evaluation of the test set each. Whole epochs on
2 cores vary by ±10% from one to the next, which hides a few-percent effect; interleaved steps do
not. Reported: the median over rounds of the KD/baseline ratio, and seconds per epoch extrapolated
from the median step time. Profiles: ml-100k genre shares (the cost depends only on the vector's
length, not on where it comes from).
"""

import argparse
import os
import statistics
import tempfile
import time

import torch

from recbole_llmkd.integration.quick_start import build_model, prepare_run
from recbole_llmkd.profiles.metadata import main as write_genre_profiles


def build(model, config_dict):
    from recbole_llmkd.integration.config import get_trainer

    config, _, train, _, test = prepare_run(model, "ml-100k", config_dict)
    net, _ = build_model(config, train)
    return get_trainer(config["MODEL_TYPE"], model)(config, net), train, test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SASRec", choices=["SASRec", "BERT4Rec"], help="the backbone; its KD model is compared with it")
    parser.add_argument("--batches", type=int, default=10, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of interleaved timing")
    parser.add_argument("--max-len", type=int, default=50, help="MAX_ITEM_LIST_LENGTH")
    parser.add_argument("--hidden-size", type=int, default=64, help="hidden_size of both models")
    parser.add_argument("--aggregation", default="mean", choices=["mean", "exponential", "attention"],
                        help="kd_aggregation of the KD model")
    parser.add_argument("--fast-path", action="store_true", help="fast_path: True for both models")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="kd-overhead-")
    os.chdir(work)
    profiles = write_genre_profiles(["--output", os.path.join(work, "genres.user")])
    common = {
        "MAX_ITEM_LIST_LENGTH": args.max_len, "hidden_size": args.hidden_size, "inner_size": 4 * args.hidden_size,
        "train_neg_sample_args": None, "checkpoint_dir": os.path.join(work, "saved"), "state": "WARNING",
        "show_progress": False, "use_gpu": args.device != "cpu", "epochs": 1, "fast_path": args.fast_path,
    }
    kd_extra = {"kd_profile_file": profiles, "kd_epochs": 1, "kd_aggregation": args.aggregation}
    runs = {
        "baseline": build(args.model, common),
        "kd": build(f"{args.model}KD", {**common, **kd_extra}),
    }
    kd_train = runs["kd"][1]
    batches = [batch for _, batch in zip(range(args.batches), kd_train)]  # the baseline ignores the profile
    batches_per_epoch = len(kd_train)
    step_s = {name: [] for name in runs}  # per round: seconds for all batches
    infer_s = {name: [] for name in runs}
    for name in runs:  # warm-up, not timed: allocator and thread pools settle
        runs[name][0]._train_epoch(batches[:2], 0)
    for round_idx in range(args.rounds):
        totals = dict.fromkeys(runs, 0.0)
        for i, batch in enumerate(batches):
            order = list(runs) if (i + round_idx) % 2 == 0 else list(runs)[::-1]
            for name in order:
                trainer = runs[name][0]
                start = time.perf_counter()
                trainer._train_epoch([batch], 0)
                totals[name] += time.perf_counter() - start
        for name in runs:
            step_s[name].append(totals[name])
        for name in (list(runs) if round_idx % 2 == 0 else list(runs)[::-1]):
            trainer, _, test = runs[name]
            start = time.perf_counter()
            trainer.evaluate(test, load_best_model=False)
            infer_s[name].append(time.perf_counter() - start)
        print(f"round {round_idx}: " + ", ".join(
            f"{n} {step_s[n][-1]:.2f} s train / {infer_s[n][-1]:.3f} s inference" for n in runs), flush=True)

    head_s = time_distillation_head(runs["kd"][0].model, batches[0])
    step_s_median = statistics.median(step_s["baseline"]) / args.batches

    def ratio(values):
        return statistics.median(k / b for k, b in zip(values["kd"], values["baseline"]))

    print(f"\n{args.model} on ml-100k, MAX_ITEM_LIST_LENGTH={args.max_len}, hidden_size={args.hidden_size}, "
          f"aggregation={args.aggregation}, fast_path={args.fast_path}, device={args.device}, "
          f"torch threads={torch.get_num_threads()}, KD defaults: {runs['kd'][0].model.kd_head.direction}, "
          f"{runs['kd'][0].model.kd_head.loss}; "
          f"{args.rounds} rounds x {args.batches} batches of {kd_train.batch_size}, {batches_per_epoch} batches/epoch")
    print(f"{'':10s}{'train s/epoch':>15s}{'inference s':>14s}")
    for name in runs:
        per_epoch = statistics.median(step_s[name]) / args.batches * batches_per_epoch
        print(f"{name:10s}{per_epoch:15.2f}{statistics.median(infer_s[name]):14.3f}")
    print(f"{'KD/base':10s}{ratio(step_s):15.3f}{ratio(infer_s):14.3f}   (median of per-round ratios)")
    print(f"distillation head alone (forward + backward on one batch's hidden states): {1000 * head_s:.1f} ms "
          f"= {100 * head_s / step_s_median:.2f}% of a baseline training step ({1000 * step_s_median:.0f} ms)")


def time_distillation_head(model, batch, repeats=20):
    """Median seconds of what distillation adds to a step: pooling, T, the loss and their backward,
    on the hidden states of one real batch (the encoder pass itself is shared with L_rec)."""
    model.train()
    captured = []
    handle = model.trm_encoder.register_forward_hook(lambda m, i, out: captured.append(out))
    with torch.no_grad():
        model.calculate_loss(batch)
    handle.remove()
    hidden = captured[0][model.kd_layer].detach()
    valid, profile, users = model.kd_valid_positions(batch), batch[model.kd_profile_field], batch[model.USER_ID]
    times = []
    for _ in range(repeats + 2):
        leaf = hidden.clone().requires_grad_(True)
        start = time.perf_counter()
        loss, _ = model.kd_head.distil_loss(leaf, valid, profile, users)
        loss.backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


if __name__ == "__main__":
    main()
