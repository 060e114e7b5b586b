#!/usr/bin/env python3
"""Generate the golden fixtures envs/tests/fixtures/minatar/<Game>-v<k>.json from the real
MinAtar package (minatar 1.0.15 through Gymnasium 1.4).

    python3 -m venv /tmp/minatar-venv
    /tmp/minatar-venv/bin/pip install minatar==1.0.15 gymnasium==1.4.0
    /tmp/minatar-venv/bin/python scripts/gen_minatar_fixtures.py [--out envs/tests/fixtures/minatar]

envs/tests/minatar_conformance.rs replays every fixture against polytask's environments.
Each fixture holds, for one id, a list of "runs". A run is one environment made by
`gymnasium.make(id, **params)`, reset with `reset(seed=seed)`, then stepped with the
recorded actions; whenever an episode ends it is reset with `reset()` (no seed: the
package keeps its generator and its last action). Per run:

  seed, params    the seed of the first reset and the keyword arguments of gymnasium.make
  policy          how the actions were chosen: "random" (uniform) or "search" (a scripted
                  policy for the game that looks ahead on deep copies of the environment to
                  survive, so that episodes are long and the difficulty ramps)
  actions         one character per step, the action index ("0".."5")
  rewards         the reward of every step (integers)
  terminated      the step indices at which `terminated` was true (truncated never is: the
                  package registers no time limit)
  resets          step index -> observation returned by the reset before that step
  obs             per step, the cells that changed since the previous observation
  ramps           the highest difficulty_ramp() of the game during the run (None for Breakout
                  and Freeway), to show that the run covers ramping
  episodes        how many episodes the run started

An observation is encoded as the flat indices (row-major over [10, 10, C], channel last) of
its 1-cells; a change as the indices whose value flipped. Indices are written as two
characters of the alphabet A (base 64, most significant first), concatenated.

The committed set (about 580 KB) has, per id, two random runs of several episodes (seeds 0
and 2**32 - 1), one long scripted episode (the difficulty ramps; Seaquest surfaces with six
divers; Breakout's bricks come back), and for the -v0 ids a scripted run with sticky
probability 0.5 and ramping off (Breakout-v1: one without sticky actions). A scripted run that
misses its purpose is retried with the next seed, so the seeds in the files may differ from
the ones asked for. `--stress N` writes N more runs per id with random seeds and parameters
instead, for a larger local check (POLYTASK_MINATAR_FIXTURES=DIR cargo test -p
polytask-envs --test minatar_conformance).
"""

import argparse
import copy
import json
import os
import sys
import zlib

import gymnasium as gym
import numpy as np

import minatar
import minatar.gym

A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
GAMES = ["Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders"]
MOVES = "nlurdf"


def encode(indices):
    return "".join(A[i // 64] + A[i % 64] for i in indices)


def ones(obs):
    return np.flatnonzero(np.asarray(obs, dtype=bool).ravel())


def changed(prev, obs):
    return np.flatnonzero(np.asarray(prev, dtype=bool).ravel() != np.asarray(obs, dtype=bool).ravel())


def game_of(env):
    """The package's game object (minatar.environments.<game>.Env)."""
    return env.unwrapped.game.env


def action_names(env):
    return [MOVES[a] for a in env.unwrapped.action_set]


# ---------------------------------------------------------------------------------------
# Scripted preferences: which action (by name) the policy would like, from the game's state.


def prefer_asterix(g):
    golds = [(x[0], i + 1) for i, x in enumerate(g.entities) if x is not None and x[3]]
    if golds:
        gx, gy = min(golds, key=lambda p: abs(p[0] - g.player_x) + abs(p[1] - g.player_y))
        if gy != g.player_y:
            return "u" if gy < g.player_y else "d"
        if gx != g.player_x:
            return "l" if gx < g.player_x else "r"
    return "n"


def prefer_breakout(g):
    """Under the ball while it rises (bricks make its way back unpredictable), then towards
    where it will reach the bottom row."""
    x, y, dx, dy = g.ball_x, g.ball_y, [-1, 1, 1, -1][g.ball_dir], [-1, -1, 1, 1][g.ball_dir]
    for _ in range(30):
        if y >= 8 and dy > 0:
            break
        nx, ny = x + dx, y + dy
        if not 0 <= nx <= 9:  # as breakout.py: the ball stays in the wall column this frame
            nx, dx = min(9, max(0, nx)), -dx
        if ny < 0:
            ny, dy = 0, -dy
        x, y = nx, ny
    target = x if g.ball_dir in (2, 3) else g.ball_x
    if target < g.pos:
        return "l"
    if target > g.pos:
        return "r"
    return "n"


def prefer_freeway(g):
    return "u"


def prefer_seaquest(g):
    # Surface with six divers (the bonus) unless oxygen runs low.
    if g.diver_count > 0 and (g.oxygen < 60 or g.diver_count >= 6):
        return "u"
    if g.diver_count <= 0 and g.sub_y <= 1:
        return "d"
    if g.divers:
        d = min(g.divers, key=lambda d: abs(d[0] - g.sub_x) + abs(d[1] - g.sub_y))
        if d[1] != g.sub_y:
            return "u" if d[1] < g.sub_y else "d"
        if d[0] != g.sub_x:
            return "l" if d[0] < g.sub_x else "r"
    return "f"


def prefer_space_invaders(g):
    if g.shot_timer == 0:
        return "f"
    cols = [i for i in range(10) if g.alien_map[:, i].sum() > 0]
    if cols:
        target = min(cols, key=lambda c: abs(c - g.pos))
        if target != g.pos:
            return "l" if target < g.pos else "r"
    return "n"


PREFER = {
    "Asterix": prefer_asterix,
    "Breakout": prefer_breakout,
    "Freeway": prefer_freeway,
    "Seaquest": prefer_seaquest,
    "SpaceInvaders": prefer_space_invaders,
}


def search_action(env, game, rng, horizon=8, rollouts=3):
    """The preferred action if it survives a short look-ahead on deep copies, else the action
    that survives longest; the look-ahead continues with the preferred policy (mixed with
    random actions), so it sees what the scripted policy would do next."""
    names = action_names(env)
    n = len(names)
    want = PREFER[game](game_of(env))
    order = sorted(range(n), key=lambda a: (names[a] != want, rng.random()))
    best, best_score = order[0], None
    for a in order:
        score = 0
        for _ in range(rollouts):
            sim = copy.deepcopy(env.unwrapped)
            _, r, done, _, _ = sim.step(a)
            k = 0
            while not done and k < horizon:
                pw = PREFER[game](sim.game.env)
                b = names.index(pw) if pw in names and rng.random() < 0.7 else int(rng.integers(n))
                _, r, done, _, _ = sim.step(b)
                k += 1
            score = max(score, k + (0 if done else 1))
        if score > horizon:
            return a
        if best_score is None or score > best_score:
            best, best_score = a, score
    return best


def record(env_id, seed, params, policy, max_steps, max_episodes, rng_seed):
    env = gym.make(env_id, **params)
    game = env_id.split("/")[1].split("-")[0]
    rng = np.random.default_rng(rng_seed)
    n = env.action_space.n
    obs, _ = env.reset(seed=seed)
    run = {
        "seed": seed,
        "params": params,
        "policy": policy,
        "actions": "",
        "rewards": [],
        "terminated": [],
        "resets": {"0": encode(ones(obs))},
        "obs": [],
    }
    episodes = 1
    ramps = 0
    min_divers = 0
    for t in range(max_steps):
        if policy == "random":
            a = int(rng.integers(n))
        else:
            a = search_action(env, game, rng)
        nxt, r, term, trunc, _ = env.step(a)
        assert not trunc
        run["actions"] += str(a)
        run["rewards"].append(int(r))
        run["obs"].append(encode(changed(obs, nxt)))
        obs = nxt
        min_divers = min(min_divers, getattr(game_of(env), "diver_count", 0))
        ramp = game_of(env).difficulty_ramp()
        if ramp is not None:
            ramps = max(ramps, ramp)
        if term:
            run["terminated"].append(t)
            if episodes == max_episodes:
                break
            obs, _ = env.reset()
            run["resets"][str(t + 1)] = encode(ones(obs))
            episodes += 1
    run["ramps"] = ramps if game_of(env).difficulty_ramp() is not None else None
    run["episodes"] = episodes
    return run, min_divers


def covers(game, run, min_divers):
    """Whether a long scripted run shows what it is for: ramping; Seaquest also the six-diver
    bonus (which leaves diver_count at -1); Breakout a refill of the bricks."""
    if game == "Breakout":
        return sum(run["rewards"]) > 30
    if game == "Seaquest":
        return run["ramps"] >= 1 and min_divers < 0
    if run["ramps"] is not None:
        return run["ramps"] >= 1
    return True


def runs_for(env_id):
    game = env_id.split("/")[1].split("-")[0]
    v1 = env_id.endswith("-v1")
    long_steps = {"Asterix": 1500, "Breakout": 1500, "Freeway": 2600, "Seaquest": 1500, "SpaceInvaders": 1500}[game]
    random_steps = 600
    runs = [
        # Random actions, several episodes on one instance (reset() in between).
        dict(seed=0, params={}, policy="random", max_steps=random_steps, max_episodes=50, rng_seed=1),
        dict(seed=2**32 - 1, params={}, policy="random", max_steps=300, max_episodes=50, rng_seed=2),
        # One long scripted episode: the difficulty ramps.
        dict(seed=7 if v1 else 3, params={}, policy="search", max_steps=long_steps, max_episodes=1, rng_seed=3),
    ]
    if game == "Breakout" and v1:
        # Without sticky actions the scripted paddle never misses: the bricks come back again
        # and again (an episode that never ends without a time limit).
        runs.append(dict(seed=11, params={"sticky_action_prob": 0.0}, policy="search",
                         max_steps=1200, max_episodes=1, rng_seed=5))
    if not v1:
        runs.append(dict(seed=123, params={"sticky_action_prob": 0.5, "difficulty_ramping": False},
                         policy="search", max_steps=400, max_episodes=3, rng_seed=4))
    return runs


def stress_runs(env_id, n):
    rng = np.random.default_rng(zlib.crc32(env_id.encode()))
    runs = []
    for i in range(n):
        sticky = [0.1, 0.0, 0.3, 1.0][i % 4]
        params = {} if i % 4 == 0 else {"sticky_action_prob": sticky, "difficulty_ramping": bool(i % 3)}
        runs.append(dict(seed=int(rng.integers(2**32)), params=params,
                         policy="search" if i % 2 else "random",
                         max_steps=3000, max_episodes=5, rng_seed=100 + i))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="envs/tests/fixtures/minatar")
    parser.add_argument("--only", help="one id, e.g. MinAtar/Breakout-v1")
    parser.add_argument("--stress", type=int, default=0, metavar="N",
                        help="instead of the committed set, N extra runs per id with other seeds "
                             "and long searches (for a local check; large files)")
    args = parser.parse_args()
    minatar.gym.register_envs()
    os.makedirs(args.out, exist_ok=True)
    import importlib.metadata as md
    versions = {"minatar": md.version("minatar"), "gymnasium": gym.__version__, "numpy": np.__version__}
    print(f"recording with {versions}", file=sys.stderr)
    for game in GAMES:
        for k in (0, 1):
            env_id = f"MinAtar/{game}-v{k}"
            if args.only and args.only != env_id:
                continue
            runs = []
            for spec in (stress_runs(env_id, args.stress) if args.stress else runs_for(env_id)):
                seed = spec["seed"]
                while True:
                    run, min_divers = record(env_id, seed, spec["params"], spec["policy"], spec["max_steps"],
                                             spec["max_episodes"], spec["rng_seed"])
                    # A long scripted run that misses its purpose is tried with the next seed.
                    if args.stress or spec["max_episodes"] > 1 or covers(game, run, min_divers) or seed > spec["seed"] + 20:
                        break
                    seed += 1
                runs.append(run)
                print(f"{env_id} seed {run['seed']} {run['policy']}: {len(run['actions'])} steps, "
                      f"{run['episodes']} episodes, return {sum(run['rewards'])}, ramps {run['ramps']}, "
                      f"lowest diver count {min_divers}",
                      file=sys.stderr)
            fixture = {"id": env_id, **versions, "generator": "scripts/gen_minatar_fixtures.py", "runs": runs}
            path = os.path.join(args.out, f"{game}-v{k}.json")
            with open(path, "w") as f:
                f.write(dumps(fixture) + "\n")


def dumps(fixture):
    """One run field per line, so that the files diff well."""
    head = {k: v for k, v in fixture.items() if k != "runs"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f" {json.dumps(k)}: {json.dumps(v)},")
    lines.append(' "runs": [')
    for i, run in enumerate(fixture["runs"]):
        lines.append("  {")
        items = list(run.items())
        for j, (k, v) in enumerate(items):
            comma = "," if j + 1 < len(items) else ""
            lines.append(f"   {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}{comma}")
        lines.append("  }" + ("," if i + 1 < len(fixture["runs"]) else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
