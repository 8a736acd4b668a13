"""Hyperparameter-conditioned training: the three sweep benchmarks over several seeds.

The same runs as ``hypernetworks sweep --benchmark B --seed S`` (one process, 1 thread),
summarised in three Markdown tables, with every run's metrics in
``benchmarks/results/sweep.json``.

    python benchmarks/sweep.py [--seeds 0 1 2]
"""

from __future__ import annotations

from common import parser, save, setup, table
from hypernetworks.sweep import BENCHMARKS

weight_decay, many_decays, tradeoff = (
    BENCHMARKS[name] for name in ("weight-decay", "many-decays", "tradeoff")
)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    info = setup(args)
    runs = {"weight-decay": [], "many-decays": [], "tradeoff": []}
    for seed in args.seeds:
        runs["weight-decay"].append(weight_decay(seed, progress=False))
        runs["many-decays"].append(many_decays(seed, progress=False))
        runs["tradeoff"].append(tradeoff(seed, progress=False))

    print("One hyperparameter (L2 weight decay, 13-point grid, softmax regression on digits)\n")
    print(
        table(
            runs["weight-decay"],
            [
                ("seed", "seed", ""),
                ("best_hparam_grid", "best, separate (L-BFGS)", ".2e"),
                ("best_hparam_hypernet", "best, hypernetwork", ".2e"),
                ("same_best", "same", ""),
                ("regret_of_hypernet_pick", "regret of its pick", ".4f"),
                ("max_curve_gap", "max curve gap", ".4f"),
                ("wall_time_grid_s", "time, 13 models (s)", ".1f"),
                ("wall_time_hypernet_s", "time, hypernetwork (s)", ".1f"),
            ],
        )
    )
    print(
        "\nNine weight decays (MLP on digits): validation / test cross-entropy of the best "
        "setting found, same wall-clock\n"
    )
    print(
        table(
            runs["many-decays"],
            [
                ("seed", "seed", ""),
                ("best_val_loss_hypernet", "hypernet val", ".4f"),
                ("test_loss_hypernet", "hypernet test", ".4f"),
                ("val_loss_retrained_at_hypernet_best", "retrained at its pick, val", ".4f"),
                ("best_val_loss_random_search", "random search val", ".4f"),
                ("test_loss_random_search", "random search test", ".4f"),
                ("random_search_trials", "trials", ""),
                ("best_val_loss_optuna_tpe", "TPE val", ".4f"),
                ("test_loss_optuna_tpe", "TPE test", ".4f"),
                ("optuna_tpe_trials", "TPE trials", ""),
                ("wall_time_hypernet_s", "budget (s)", ".1f"),
            ],
        )
    )
    print(
        "\nTrade-off (MLP on digits, cross-entropy + α·L1, 10 values of α): hypervolume of "
        "the (val cross-entropy, L1) front\n"
    )
    print(
        table(
            runs["tradeoff"],
            [
                ("seed", "seed", ""),
                ("hypervolume_separate", "separate models", ".2f"),
                ("hypervolume_hypernet", "one hypernetwork", ".2f"),
                ("max_val_loss_gap", "max val-loss gap at same α", ".3f"),
                ("wall_time_separate_s", "time, 10 models (s)", ".1f"),
                ("wall_time_hypernet_s", "time, hypernetwork (s)", ".1f"),
            ],
        )
    )
    print(f"\nwrote {save(args.out, 'sweep', {'info': info, 'runs': runs})}")


if __name__ == "__main__":
    main()
