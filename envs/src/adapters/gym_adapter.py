"""polytask's Python side of `gym:` environment ids (envs/src/adapters/python.rs).

The embedded interpreter imports this module once. `make` builds the Gymnasium environment,
`describe` reports a space in a form the Rust side translates (or rejects), and an
`Adapter` steps one environment, returning observations as flat, C-contiguous float32
arrays that Rust copies straight into its buffer.
"""

import functools
import importlib
import threading

import gymnasium
import numpy as np
from gymnasium import spaces

# Gymnasium imports an environment's module at its first `make`; first imports of the same
# package from several threads at once can see it half-imported (a KeyError from
# sys.modules), so makes run one at a time.
_MAKE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=None)
def _metaworld_benchmark(name, seed):
    """metaworld.MT10(seed) or MT50(seed), made once per process: making one draws 50 goals
    for each of its environments (about a minute for MT50)."""
    import metaworld

    return getattr(metaworld, name)(seed=seed)


def _metaworld_mt(benchmark, env_name, seed=None, **kwargs):
    """The environment at `env_name`'s position in Meta-World's `Meta-World/<benchmark>`
    vector env (metaworld 3.1.1's make_mt_envs): its class with the goals that
    metaworld.<benchmark>(seed) drew for it, sampling one at every reset."""
    import metaworld

    bench = _metaworld_benchmark(benchmark, seed)
    names = list(bench.train_classes)
    if env_name not in names:
        raise ValueError(f"{env_name!r} is not in Meta-World's {benchmark}; it has: {', '.join(names)}")
    tasks = [task for task in bench.train_tasks if task.env_name == env_name]
    return metaworld._init_each_env(
        env_cls=bench.train_classes[env_name],
        tasks=tasks,
        seed=seed,
        env_id=names.index(env_name),
        num_tasks=len(names),
        **kwargs,
    )


# Ids for one environment of Meta-World's MT10 and MT50, which the metaworld package offers
# only as vector envs (src/config/benchmark.rs expands `benchmark = "metaworld-mt10"` into
# them). metaworld is imported when one is made, not here.
for _name in ("MT10", "MT50"):
    gymnasium.register(
        id=f"polytask/Meta-World-{_name}",
        entry_point=functools.partial(_metaworld_mt, _name),
    )


# Gymnasium namespaces whose environments a package registers when it is imported; `make`
# imports the package first, so that `gym:Meta-World/MT1` works without a `module:` prefix.
_NAMESPACE_PACKAGES = {"Meta-World": "metaworld", "polytask": "metaworld"}


def make(gym_id, kwargs):
    """gymnasium.make with polytask's parameters as keyword arguments (its own TimeLimit)."""
    with _MAKE_LOCK:
        package = _NAMESPACE_PACKAGES.get(gym_id.split("/", 1)[0]) if "/" in gym_id else None
        if package is not None:
            importlib.import_module(package)
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
    """One environment: polytask's actions in, flat float32 observations out, and the
    `info` entries named by `metric_keys` as a float32 array."""

    def __init__(self, env, obs_start, action_start, metric_keys):
        self.env = env
        self.obs_start = obs_start
        self.action_start = action_start
        self.metric_keys = list(metric_keys)
        self.metrics = np.zeros(len(self.metric_keys), dtype=np.float32)
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
        obs, reward, terminated, truncated, info = self.env.step(action)
        for i, key in enumerate(self.metric_keys):
            if key not in info:
                raise KeyError(
                    f"info_metrics names `{key}`, but the step's info has no such entry; "
                    f"its entries are: {', '.join(sorted(map(str, info))) or '(none)'}"
                )
            self.metrics[i] = float(info[key])
        return self._flat(obs), float(reward), bool(terminated), bool(truncated), self.metrics

    def close(self):
        self.env.close()
