"""Train and evaluate a model with RecBole, KD models included (mirrors RecBole's run_recbole.py).

    python run_recbole_kd.py -m SASRecKD -d ml-100k --kd_profile_file=profiles/ml-100k.user

Unknown ``--key=value`` flags are read by RecBole's Config as configuration overrides.
"""

import argparse

from recbole_llmkd.quick_start import run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", "-m", type=str, default="SASRecKD", help="name of the model")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="name of the dataset")
    parser.add_argument("--config_files", type=str, default=None, help="config files, space-separated")
    parser.add_argument("--nproc", type=int, default=1, help="the number of processes in this machine")
    parser.add_argument("--ip", type=str, default="localhost", help="the ip of the master node")
    parser.add_argument("--port", type=str, default="5678", help="the port of the master node")
    parser.add_argument("--world_size", type=int, default=-1, help="total number of jobs")
    parser.add_argument("--group_offset", type=int, default=0, help="the global rank offset of this group")
    args, _ = parser.parse_known_args(argv)  # the rest is read by RecBole's Config from sys.argv
    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    return run(
        args.model, args.dataset, config_file_list=config_file_list, nproc=args.nproc,
        world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset,
    )


if __name__ == "__main__":
    main()
