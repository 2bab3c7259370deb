"""Optuna 3.1's TPESampler on the objectives of bench/tune/objectives
(same functions, bounds, trial count and seeds as the tunequality
command), for the performance table's row 3.

Prints JSON: {"optuna": version, "trials": n, "check": {objective: f at
the box's centre}, "bests": {objective: {sampler: [best per seed]}}}.
Samplers: "tpe" (TPESampler defaults, univariate) and
"tpe-multivariate" (multivariate=True).

Run: /usr/bin/python3 bench/tune/optuna_quality.py --trials 100 --seeds 20
"""
import argparse
import json
import math
import warnings

import numpy as np
import optuna

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def branin(x):
    a, r, s = 1.0, 6.0, 10.0
    b = 5.1 / (4 * math.pi ** 2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    u = x[1] - b * x[0] ** 2 + c * x[0] - r
    return a * u * u + s * (1 - t) * math.cos(x[0]) + s


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6))
        total += ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


OBJECTIVES = {
    "branin": (branin, [(-5, 10), (0, 15)]),
    "hartmann6": (hartmann6, [(0, 1)] * 6),
    "rosenbrock10": (rosenbrock, [(-5, 10)] * 10),
}

SAMPLERS = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "tpe-multivariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
}


def run(objective, bounds, sampler, trials):
    def f(trial):
        x = [trial.suggest_float(f"x{d}", lo, hi) for d, (lo, hi) in enumerate(bounds)]
        return objective(x)

    study = optuna.create_study(sampler=sampler)
    study.optimize(f, n_trials=trials)
    return study.best_value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    out = {"optuna": optuna.__version__, "trials": args.trials, "check": {}, "bests": {}}
    for name in args.objectives.split(","):
        objective, bounds = OBJECTIVES[name]
        out["check"][name] = objective([(lo + hi) / 2 for lo, hi in bounds])
        out["bests"][name] = {}
        for sampler in args.samplers.split(","):
            out["bests"][name][sampler] = [
                run(objective, bounds, SAMPLERS[sampler](seed), args.trials)
                for seed in range(1, args.seeds + 1)
            ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
