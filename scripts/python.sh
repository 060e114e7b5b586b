# Sourced by scripts/test and .ci/run: decides whether the optional environment adapters
# (cargo features `python` and `gymnasium-rs`) can be built here, and installs Python
# Gymnasium for the `gym:` tests once, into a cached virtual environment.
#
# Both features link libpython through pyo3 (gymnasium-rs 0.1.1 depends on pyo3 too), so
# they need the Python 3 that pyo3 builds against to have a shared libpython (Debian:
# apt-get install python3-dev). Without one the adapters are left out with a message and
# everything else is built and tested as usual.
#
# polytask_python sets:
#   POLYTASK_FEATURES           cargo arguments: (--all-features), or () without libpython
#   POLYTASK_PYTHON             the venv's python, whose gymnasium the `gym:` ids then use
#   POLYTASK_REQUIRE_GYMNASIUM  1 once gymnasium is installed: the `gym:` tests must then
#                               run (without it they are skipped with a message)
#   LD_LIBRARY_PATH             gains libpython's folder if the loader would not find it
#
# Environment:
#   PYO3_PYTHON          the Python that pyo3 builds against (default, as pyo3's own: the
#                        $VIRTUAL_ENV or $CONDA_PREFIX python, else python, else python3)
#   POLYTASK_CACHE       cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/polytask)
#   POLYTASK_NO_PYTHON   1 to build and test without the two adapter features

# The MuJoCo task families (`gym:HalfCheetah-v5`, ...; Gymnasium's `mujoco` extra) and
# Meta-World, installed into the same environment by polytask_python_mujoco. metaworld
# 3.1.1 pins mujoco 3.3.0.
POLYTASK_METAWORLD_VERSION=3.1.1
POLYTASK_MUJOCO_VERSION=3.3.0

# Pinned to the Gymnasium release that the built-in environments match (envs/tests/fixtures);
# pip picks the NumPy that gymnasium accepts (NumPy's seeding is stable across versions).
POLYTASK_GYMNASIUM_VERSION=1.4.0
# The MinAtar package that the native MinAtar environments are checked against.
POLYTASK_MINATAR_VERSION=1.0.15

polytask_python() {
    POLYTASK_FEATURES=()
    if [ "${POLYTASK_NO_PYTHON:-0}" = 1 ]; then
        echo "polytask: POLYTASK_NO_PYTHON=1: building without the python and gymnasium-rs features" >&2
        return 0
    fi
    # The interpreter pyo3 will pick (pyo3-build-config's find_interpreter).
    local py="${PYO3_PYTHON:-}"
    if [ -z "$py" ] && [ -n "${VIRTUAL_ENV:-}" ]; then py="$VIRTUAL_ENV/bin/python"; fi
    if [ -z "$py" ] && [ -n "${CONDA_PREFIX:-}" ]; then py="$CONDA_PREFIX/bin/python"; fi
    if [ -z "$py" ]; then
        if python --version 2>&1 | grep -q '^Python 3'; then py=python; else py=python3; fi
    fi
    local info
    if ! info="$("$py" -c 'import sys, sysconfig as s
print("%d.%d" % sys.version_info[:2])
for k in ("Py_ENABLE_SHARED", "LIBDIR", "LDLIBRARY", "INSTSONAME"): print(s.get_config_var(k) or "")' 2>/dev/null)"; then
        echo "polytask: no Python 3 ($py) to build the python and gymnasium-rs features against; leaving them out (their tests do not run)" >&2
        return 0
    fi
    local version shared libdir ldlibrary soname
    { read -r version; read -r shared; read -r libdir; read -r ldlibrary; read -r soname; } <<<"$info"
    if [ "$shared" != 1 ] || [ ! -e "$libdir/$ldlibrary" ]; then
        echo "polytask: $py (Python $version) has no shared libpython ($libdir/${ldlibrary:-libpython$version.so}); leaving out the python and gymnasium-rs features (Debian: apt-get install python3-dev)" >&2
        return 0
    fi
    POLYTASK_FEATURES=(--all-features)
    # Binaries load libpython by its soname; a Python outside the system folders (pyenv,
    # conda) needs its folder on the loader path.
    if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -qF "$soname"; then
        export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi

    local cache="${POLYTASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polytask}"
    local venv="$cache/gymnasium-$POLYTASK_GYMNASIUM_VERSION-minatar-$POLYTASK_MINATAR_VERSION-py$version"
    if [ ! -f "$venv/.complete" ]; then
        echo "polytask: installing gymnasium==$POLYTASK_GYMNASIUM_VERSION and minatar==$POLYTASK_MINATAR_VERSION for Python $version into $venv (first use only)" >&2
        rm -rf "$venv"
        mkdir -p "$cache"
        # minatar's environments need only NumPy (which gymnasium brings); its other
        # requirements (matplotlib, seaborn, ...) serve its GUI and examples.
        if ! { "$py" -m venv "$venv" >/dev/null 2>&1 &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "gymnasium==$POLYTASK_GYMNASIUM_VERSION" &&
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
                "minatar==$POLYTASK_MINATAR_VERSION"; }; then
            rm -rf "$venv"
            echo "polytask: could not install gymnasium into a virtual environment of $py (Debian: apt-get install python3-venv; offline?); the gym: tests will be skipped" >&2
            return 0
        fi
        touch "$venv/.complete"
    fi
    export POLYTASK_PYTHON="$venv/bin/python"
    export POLYTASK_REQUIRE_GYMNASIUM=1
}

# Adds Gymnasium's MuJoCo environments (gymnasium[mujoco]) and Meta-World to the venv that
# polytask_python made, once (a marker file records it), and sets POLYTASK_REQUIRE_MUJOCO=1
# (the MuJoCo and Meta-World tests must then run). Call after polytask_python; does nothing
# where that found no usable Python. Returns 1 if the install fails.
polytask_python_mujoco() {
    [ -n "${POLYTASK_PYTHON:-}" ] || return 0
    local venv marker
    venv="$(dirname "$(dirname "$POLYTASK_PYTHON")")"
    marker="$venv/.mujoco-$POLYTASK_MUJOCO_VERSION-metaworld-$POLYTASK_METAWORLD_VERSION"
    if [ -f "$marker" ]; then
        export POLYTASK_REQUIRE_MUJOCO=1
        return 0
    fi
    echo "polytask: installing gymnasium[mujoco], mujoco==$POLYTASK_MUJOCO_VERSION and metaworld==$POLYTASK_METAWORLD_VERSION into $venv (first use only)" >&2
    if ! "$POLYTASK_PYTHON" -m pip install --quiet --disable-pip-version-check \
        "gymnasium[mujoco]==$POLYTASK_GYMNASIUM_VERSION" \
        "mujoco==$POLYTASK_MUJOCO_VERSION" \
        "metaworld==$POLYTASK_METAWORLD_VERSION"; then
        echo "polytask: could not install MuJoCo and Meta-World (offline?); the MuJoCo and Meta-World tests will be skipped" >&2
        return 1
    fi
    touch "$marker"
    export POLYTASK_REQUIRE_MUJOCO=1
}

# Whether any of the arguments is a config file that needs the `python` feature (`gym:` ids
# or a `benchmark`), so that scripts/polytask builds with it; prints `mujoco` when it needs
# MuJoCo or Meta-World too.
polytask_config_needs() {
    local arg needs=""
    for arg in "$@"; do
        [ -f "$arg" ] && [[ "$arg" == *.toml ]] || continue
        if grep -qE '^[[:space:]]*benchmark[[:space:]]*=|"gym:' "$arg"; then needs="${needs:-python}"; fi
        if grep -qE 'metaworld|Meta-World|gym:(HalfCheetah|Ant|Hopper|Walker2d|Humanoid|HumanoidStandup|Swimmer|Reacher|Pusher|InvertedPendulum|InvertedDoublePendulum)-v' "$arg"; then needs=mujoco; fi
    done
    [ -n "$needs" ] && echo "$needs"
    return 0
}
