#!/usr/bin/env python3
"""Steps/s of the MinAtar package itself, for `polytask bench envs --env MinAtar/<Game>-v0
--minatar-python PYTHON` (which runs this script and prints the ratio).

    python3 -m venv /tmp/minatar-venv && /tmp/minatar-venv/bin/pip install minatar==1.0.15
    /tmp/minatar-venv/bin/python scripts/bench_minatar.py --game breakout

One process, one environment: `Environment.act(a)` (sticky actions on, the package's default
0.1, difficulty ramping on) followed by `Environment.state()` (the observation), with uniformly
random actions drawn beforehand, `reset()` when an episode ends. It prints the median over
`--repeat` rounds as a line `minatar <steps/s>` and the versions used as `versions ...`.
"""

import argparse
import statistics
import time

import numpy as np
from minatar import Environment

GAMES = {
    "Asterix": "asterix",
    "Breakout": "breakout",
    "Freeway": "freeway",
    "Seaquest": "seaquest",
    "SpaceInvaders": "space_invaders",
}


def rate(game, steps, seed):
    env = Environment(game)
    env.seed(seed)
    env.reset()
    actions = np.random.default_rng(seed).integers(0, 6, size=steps).tolist()
    act, state, reset = env.act, env.state, env.reset
    start = time.perf_counter()
    for a in actions:
        _, done = act(a)
        state()
        if done:
            reset()
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", required=True,
                        help="package name (breakout) or id name (Breakout, MinAtar/Breakout-v0)")
    parser.add_argument("--steps", type=int, default=50_000, help="steps per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is printed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    name = args.game.removeprefix("MinAtar/").split("-")[0]
    game = GAMES.get(name, name)
    rates = [rate(game, args.steps, args.seed + i) for i in range(args.repeat)]
    import importlib.metadata as md
    print(f"versions minatar {md.version('minatar')}, numpy {np.__version__}")
    print(f"minatar {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
