# Sourced by the other scripts: makes sure libtorch is installed and exports LIBTORCH.
#
# libtorch comes from PyPI's `torch` wheel, installed once into a virtual environment in
# the user's cache (keyed by version) and reused afterwards. On a machine without an NVIDIA
# GPU only the wheel itself and the two small CUDA runtime libraries that libtorch_cpu links
# against are installed (~1.3 GB, under a minute); with a GPU (`nvidia-smi` works) the full
# CUDA dependency set is installed so that `--device cuda` works.
#
# Environment:
#   POLYTASK_CACHE       cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/polytask)
#   POLYTASK_TORCH_CUDA  1 to force the CUDA install, 0 to force CPU only (default: auto)
#   LIBTORCH             if already set to a libtorch folder, nothing is installed

POLYTASK_TORCH_VERSION=2.11.0

polytask_libtorch() {
    if ! command -v c++ >/dev/null 2>&1; then
        echo "error: no C++ compiler (c++) found; tch's bindings to libtorch are C++ (Debian: apt-get install g++)" >&2
        return 1
    fi
    if [ -n "${LIBTORCH:-}" ]; then
        if [ ! -d "$LIBTORCH/lib" ]; then
            echo "error: LIBTORCH=$LIBTORCH has no lib/ folder; unset it to let polytask install libtorch" >&2
            return 2
        fi
        return 0
    fi
    local cache="${POLYTASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polytask}"
    local cuda="${POLYTASK_TORCH_CUDA:-auto}"
    if [ "$cuda" = auto ]; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then cuda=1; else cuda=0; fi
    fi
    local flavour=cpu
    [ "$cuda" = 1 ] && flavour=cuda
    local venv="$cache/torch-$POLYTASK_TORCH_VERSION-$flavour"
    if [ ! -f "$venv/.complete" ]; then
        echo "polytask: installing torch==$POLYTASK_TORCH_VERSION ($flavour) from PyPI into $venv (first use only)" >&2
        rm -rf "$venv"
        mkdir -p "$cache"
        local packages=("torch==$POLYTASK_TORCH_VERSION")
        local options=(--quiet --disable-pip-version-check)
        if [ "$flavour" = cpu ]; then
            # libtorch_cpu.so needs libcudart and libcupti at load time, nothing else of CUDA.
            packages+=("nvidia-cuda-runtime==13.0.96.*" "nvidia-cuda-cupti==13.0.85.*")
            options+=(--no-deps)
        fi
        if python3 -m venv "$venv" >/dev/null 2>&1; then
            "$venv/bin/python" -m pip install "${options[@]}" "${packages[@]}" || return 1
        elif rm -rf "$venv" && python3 -m pip --version >/dev/null 2>&1; then
            # No venv module (Debian without python3-venv): install into a plain folder.
            python3 -m pip install "${options[@]}" --target "$venv/lib/python3/site-packages" "${packages[@]}" || return 1
        else
            echo "error: Python 3 has neither venv nor pip; install one (Debian: apt-get install python3-venv)" >&2
            return 1
        fi
        touch "$venv/.complete"
    fi
    LIBTORCH="$(echo "$venv"/lib/python3*/site-packages/torch)"
    if [ ! -d "$LIBTORCH/lib" ]; then
        echo "error: $venv holds no torch package; remove that folder and run again" >&2
        return 1
    fi
    export LIBTORCH
}
