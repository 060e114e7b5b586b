"""polytask's Python side of `gym:` environment ids (envs/src/adapters/python.rs).

The embedded interpreter imports this module once. `make` builds the Gymnasium environment,
`describe` reports a space in a form the Rust side translates (or rejects), and an
`Adapter` steps one environment, returning observations as flat, C-contiguous float32
arrays that Rust copies straight into its buffer.
"""

import threading

import gymnasium
import numpy as np
from gymnasium import spaces

# Gymnasium imports an environment's module at its first `make`; first imports of the same
# package from several threads at once can see it half-imported (a KeyError from
# sys.modules), so makes run one at a time.
_MAKE_LOCK = threading.Lock()


def make(gym_id, kwargs):
    """gymnasium.make with polytask's parameters as keyword arguments (its own TimeLimit)."""
    with _MAKE_LOCK:
        return gymnasium.make(gym_id, **kwargs)


def describe(space):
    """("discrete", n, start) | ("box", low, high, shape, floating) | ("other", text)."""
    if isinstance(space, spaces.Discrete):
        return ("discrete", int(space.n), int(space.start))
    if isinstance(space, spaces.Box):
        low = np.asarray(space.low, dtype=np.float32).ravel().tolist()
        high = np.asarray(space.high, dtype=np.float32).ravel().tolist()
        shape = [int(d) for d in space.shape]
        return ("box", low, high, shape, bool(np.issubdtype(space.dtype, np.floating)))
    return ("other", str(space))


class Adapter:
    """One environment: polytask's actions in, flat float32 observations out."""

    def __init__(self, env, obs_start, action_start):
        self.env = env
        self.obs_start = obs_start
        self.action_start = action_start
        space = env.action_space
        # None for a Discrete action space, else the Box's (dtype, shape).
        self.action_box = (space.dtype, space.shape) if isinstance(space, spaces.Box) else None

    def _flat(self, obs):
        flat = np.ascontiguousarray(obs, dtype=np.float32).reshape(-1)
        if self.obs_start:
            flat = flat - np.float32(self.obs_start)
        return flat

    def reset(self, seed):
        obs, _info = self.env.reset(seed=seed)
        return self._flat(obs)

    def step(self, action):
        if self.action_box is None:
            action = action + self.action_start
        else:
            dtype, shape = self.action_box
            action = np.asarray(action, dtype=dtype).reshape(shape)
        obs, reward, terminated, truncated, _info = self.env.step(action)
        return self._flat(obs), float(reward), bool(terminated), bool(truncated)

    def close(self):
        self.env.close()
