#!/usr/bin/env python3
"""Replay a `polytask rollout` in the real Gymnasium and report any difference.

    polytask rollout --env CartPole-v1 --seed 3 --steps 1000 > run.jsonl
    python scripts/replay_rollout.py --env CartPole-v1 --seed 3 run.jsonl
    # or let the script run the binary itself:
    python scripts/replay_rollout.py --env CartPole-v1 --seed 3 --steps 1000 --polytask target/debug/polytask

Input: JSON lines, one per environment step, with `step, obs, action, reward, next_obs,
terminated, truncated`, and `"reset": true` on the first line of each episode. The first
episode was started with `reset(seed=SEED)`, later ones with `reset()` continuing the same
generator. The same actions are replayed in `gymnasium.make(ENV)` (time limit included).

MinAtar ids (`MinAtar/<Game>-v<k>`) are replayed in the `minatar` package
(`pip install minatar==1.0.15`), whose `minatar.gym.register_envs()` this script calls;
`--param NAME=VALUE` (also passed on to `polytask rollout`) becomes a keyword argument of
`gymnasium.make`, with MinAtar's `difficulty_ramping` as a bool and `max_episode_steps`
as an int. A MinAtar observation is a bool array, compared as 0/1.

A value differs when |polytask - gymnasium| > TOL * max(1, |gymnasium|) (absolute below 1,
relative above; TOL = 1e-5 unless --tol). Observations are compared as float32, rewards as
float64; the terminated/truncated flags must be equal.

Exit status: 0 when everything agrees, 1 when something differs, 2 on bad input or usage.
Needs `pip install "gymnasium==1.4.*"` (it prints the version it used).
"""

import argparse
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np

MAX_REPORTED = 20


MINATAR_PREFIX = "MinAtar/"


def make_kwargs(env_id, params):
    """`--param NAME=VALUE` strings as keyword arguments of gymnasium.make."""
    kwargs = {}
    for text in params:
        name, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"--param {text!r} is not NAME=VALUE")
        value = float(value)
        if name == "max_episode_steps":
            value = int(value)
        elif env_id.startswith(MINATAR_PREFIX) and name == "difficulty_ramping":
            value = bool(value)
        kwargs[name] = value
    return kwargs


class Replay:
    def __init__(self, env_id, seed, tol, params=()):
        if env_id.startswith(MINATAR_PREFIX):
            import minatar.gym

            minatar.gym.register_envs()
        self.env = gym.make(env_id, **make_kwargs(env_id, params))
        self.env_id = env_id
        self.seed = seed
        self.tol = tol
        self.problems = []
        self.max_dev = 0.0
        self.lines = 0
        self.episodes = 0
        self.obs = None  # Gymnasium's current observation
        self.done = False

    def problem(self, lineno, text):
        self.problems.append(f"line {lineno}: {text}")

    def compare(self, lineno, what, ours, theirs, as_f32):
        ours = np.asarray(ours, dtype=np.float32 if as_f32 else np.float64).ravel()
        theirs = np.asarray(theirs, dtype=np.float32 if as_f32 else np.float64).ravel()
        if ours.shape != theirs.shape:
            self.problem(lineno, f"{what} has {ours.size} values, Gymnasium's has {theirs.size}")
            return
        ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
        dev = np.abs(ours - theirs)
        if dev.size:
            self.max_dev = max(self.max_dev, float(np.nanmax(dev)) if not np.isnan(dev).all() else np.inf)
        bad = ~(dev <= self.tol * np.maximum(1.0, np.abs(theirs)))
        if bad.any():
            i = int(np.argmax(bad))
            self.problem(lineno, f"{what}[{i}] = {float(ours[i])!r}, Gymnasium {float(theirs[i])!r} (|diff| {dev[i]:.3e})")

    def action(self, value):
        space = self.env.action_space
        if isinstance(space, gym.spaces.Discrete):
            flat = np.asarray(value).ravel()
            if flat.size != 1 or float(flat[0]) != int(flat[0]):
                raise ValueError(f"action {value!r} is not an index of {space}")
            return int(flat[0])
        return np.asarray(value, dtype=np.float32).reshape(space.shape)

    def line(self, lineno, rec):
        for key in ("obs", "action", "reward", "next_obs", "terminated", "truncated"):
            if key not in rec:
                raise ValueError(f"line {lineno}: missing `{key}`")
        if rec.get("reset"):
            first = self.episodes == 0
            self.obs, _ = self.env.reset(seed=self.seed if first else None)
            self.episodes += 1
            self.done = False
        elif self.obs is None:
            raise ValueError(f"line {lineno}: the first line must have \"reset\": true")
        elif self.done:
            self.problem(lineno, "steps on after the episode ended without \"reset\": true")
        self.compare(lineno, "obs", rec["obs"], self.obs, as_f32=True)
        next_obs, reward, terminated, truncated, _ = self.env.step(self.action(rec["action"]))
        self.compare(lineno, "next_obs", rec["next_obs"], next_obs, as_f32=True)
        self.compare(lineno, "reward", [rec["reward"]], [reward], as_f32=False)
        for name, ours, theirs in (("terminated", rec["terminated"], terminated), ("truncated", rec["truncated"], truncated)):
            if bool(ours) != bool(theirs):
                self.problem(lineno, f"{name} = {bool(ours)}, Gymnasium {bool(theirs)}")
        self.obs = next_obs
        self.done = bool(terminated or truncated)
        self.lines += 1


def records(stream):
    for lineno, text in enumerate(stream, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            yield lineno, json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {lineno}: not JSON ({e})") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", help="JSON-lines rollout (default: stdin)")
    parser.add_argument("--env", required=True, help="environment id, e.g. CartPole-v1")
    parser.add_argument("--seed", required=True, type=int, help="the seed given to `polytask rollout`")
    parser.add_argument("--tol", type=float, default=1e-5, help="tolerance (default 1e-5)")
    parser.add_argument("--polytask", metavar="BIN", help="run `BIN rollout` instead of reading a file")
    parser.add_argument("--steps", type=int, default=1000, help="steps for --polytask (default 1000)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="environment parameter, as given to `polytask rollout`; repeat for several")
    args = parser.parse_args()
    if args.seed < 0:
        parser.error("--seed must be at least 0")

    print(f"replaying in gymnasium {gym.__version__} (numpy {np.__version__})", file=sys.stderr)
    try:
        replay = Replay(args.env, args.seed, args.tol, args.param)
    except ImportError as e:
        print(f"error: cannot replay {args.env!r}: {e} (for MinAtar ids: pip install minatar==1.0.15)", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except gym.error.Error as e:
        print(f"error: cannot make {args.env!r} in Gymnasium: {e}", file=sys.stderr)
        return 2

    proc = None
    try:
        if args.polytask:
            cmd = [args.polytask, "rollout", "--env", args.env, "--seed", str(args.seed), "--steps", str(args.steps)]
            for param in args.param:
                cmd += ["--param", param]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            stream = proc.stdout
        else:
            stream = open(args.file) if args.file else sys.stdin
        with stream:
            for lineno, rec in records(stream):
                replay.line(lineno, rec)
        if proc is not None and proc.wait() != 0:
            print(f"error: `{' '.join(cmd)}` exited with status {proc.returncode}", file=sys.stderr)
            return 2
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if replay.lines == 0:
        print("error: no steps in the input", file=sys.stderr)
        return 2
    summary = f"{args.env} seed {args.seed}: {replay.lines} steps, {replay.episodes} episodes, max |diff| {replay.max_dev:.3e}"
    if replay.problems:
        for text in replay.problems[:MAX_REPORTED]:
            print(text, file=sys.stderr)
        more = len(replay.problems) - MAX_REPORTED
        if more > 0:
            print(f"... and {more} more", file=sys.stderr)
        print(f"DIFFERS from Gymnasium: {summary}, {len(replay.problems)} problems", file=sys.stderr)
        return 1
    print(f"matches Gymnasium: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
