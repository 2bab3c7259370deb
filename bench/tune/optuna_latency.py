"""Optuna 3.1's TPE suggestion latency, for comparison with rayo's
BenchmarkTPESuggest (tune/tpe_test.go): 1,000 finished trials in a 10-d
float space ([-5, 10]^10, Rosenbrock values), multivariate TPE; the
median over 50 of one ask (which fits TPE and samples all 10 params)
plus its tell.

Run: /usr/bin/python3 bench/tune/optuna_latency.py [--trials 1000] [--asks 50]
"""
import argparse
import json
import statistics
import time

import numpy as np
import optuna
import warnings

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def rosenbrock(x):
    return float(sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--asks", type=int, default=50)
    ap.add_argument("--dims", type=int, default=10)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    dists = {f"x{d}": optuna.distributions.FloatDistribution(-5, 10) for d in range(args.dims)}
    sampler = optuna.samplers.TPESampler(multivariate=True, seed=1)
    study = optuna.create_study(sampler=sampler)
    # The history: random points told as finished trials, as the Go
    # benchmark adds them with AddTrial.
    rng = np.random.RandomState(2)
    trials = []
    for _ in range(args.trials):
        params = {k: float(rng.uniform(-5, 10)) for k in dists}
        trials.append(optuna.trial.create_trial(params=params, distributions=dists,
                                                value=rosenbrock(list(params.values()))))
    study.add_trials(trials)

    times = []
    for _ in range(args.asks):
        start = time.perf_counter()
        trial = study.ask()
        x = [trial.suggest_float(k, -5, 10) for k in dists]
        study.tell(trial, rosenbrock(x))
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "optuna": optuna.__version__,
        "trials": args.trials,
        "dims": args.dims,
        "asks": args.asks,
        "median_ms": statistics.median(times) * 1e3,
        "mean_ms": statistics.mean(times) * 1e3,
    }))


if __name__ == "__main__":
    main()
