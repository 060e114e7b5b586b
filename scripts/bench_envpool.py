#!/usr/bin/env python3
"""Steps/s of EnvPool on the setting of `polytask bench envs`, for a side-by-side comparison.

EnvPool is not a dependency of polytask; install it into a throwaway virtual environment:

    python3 -m venv /tmp/envpoolvenv
    /tmp/envpoolvenv/bin/pip install envpool 'numpy<2'
    /tmp/envpoolvenv/bin/python scripts/bench_envpool.py --env CartPole-v1 --num-envs 64 --threads 2

It prints the steps/s (environment steps summed over all envs) of EnvPool's synchronous mode
(`batch_size == num_envs`, `env.step(actions)`) and of its asynchronous mode
(`batch_size = num_envs / 2`, `send`/`recv`), with uniformly random actions drawn by NumPy,
as the median of `--repeat` runs.
"""

import argparse
import statistics
import time

import envpool
import numpy as np


def sync_rate(args):
    env = envpool.make(args.env, env_type="gymnasium", num_envs=args.num_envs,
                       num_threads=args.threads, seed=0)
    n = env.action_space.n
    env.reset()
    rng = np.random.default_rng(0)
    vector_steps = max(1, args.steps // args.num_envs)
    actions = rng.integers(0, n, size=(64, args.num_envs))
    start = time.perf_counter()
    for i in range(vector_steps):
        env.step(actions[i % 64])
    elapsed = time.perf_counter() - start
    env.close()
    return vector_steps * args.num_envs / elapsed


def async_rate(args):
    batch = args.num_envs // 2
    env = envpool.make(args.env, env_type="gymnasium", num_envs=args.num_envs,
                       batch_size=batch, num_threads=args.threads, seed=0)
    n = env.action_space.n
    env.async_reset()
    rng = np.random.default_rng(0)
    batches = max(1, args.steps // batch)
    actions = rng.integers(0, n, size=(64, batch))
    start = time.perf_counter()
    for i in range(batches):
        _, _, _, _, info = env.recv()
        env.send(actions[i % 64], info["env_id"])
    elapsed = time.perf_counter() - start
    env.close()
    return batches * batch / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2_000_000,
                        help="environment steps per measurement, summed over all envs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"EnvPool {envpool.__version__}: {args.env}, {args.num_envs} envs, "
          f"{args.threads} threads, {args.steps} steps x {args.repeat}")
    for name, rate in [("sync", sync_rate), ("async (batch = num_envs / 2)", async_rate)]:
        rates = [rate(args) for _ in range(args.repeat)]
        print(f"  {name:30} {statistics.median(rates):>12,.0f} steps/s  "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")


if __name__ == "__main__":
    main()
