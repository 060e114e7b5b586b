#!/usr/bin/env python3
"""Regenerates agents/tests/fixtures/surgery/*.json from torchjd 0.18, the reference library
that agents/tests/surgery_reference.rs checks polytask's aggregators against.

    python3 -m venv /tmp/torchjd && /tmp/torchjd/bin/pip install \
        'torchjd[quadprog_projector,cagrad,nash_mtl]==0.18.*'
    /tmp/torchjd/bin/python scripts/gen_surgery_fixtures.py

Inputs are float64 matrices rounded to 9 digits; each fixture holds, per matrix, the input and
the aggregated vector torchjd returns with its default hyperparameters (CAGrad: c = 0.5).
"""
import json
import pathlib

import torch
from importlib.metadata import version
from torchjd.aggregation import CAGrad, DualProj, IMTLG, MGDA, NashMTL, UPGrad, AlignedMTL, ConFIG

OUT = pathlib.Path(__file__).resolve().parent.parent / "agents/tests/fixtures/surgery"


def matrices():
    g = torch.Generator().manual_seed(6)
    rnd = lambda t, p: torch.randn(t, p, generator=g, dtype=torch.float64)
    v = rnd(1, 5)[0]
    zero = rnd(3, 5)
    zero[1] = 0.0
    return {
        "random": rnd(3, 6),
        "parallel": torch.stack([v, 2.0 * v, 0.5 * v]),
        "opposite": torch.stack([v, -v]),
        "orthogonal": torch.tensor(
            [[2.0, 0, 0, 0, 0], [0, 3.0, 0, 0, 0], [0, 0, 1.0, 0, 0]], dtype=torch.float64
        ),
        "zero_row": zero,
        "t1": rnd(1, 4),
        "t2": torch.tensor([[1.0, 0.0, 0.5], [-0.8, 1.0, -0.2]], dtype=torch.float64),
        "t7": rnd(7, 10),
    }


METHODS = {
    "mgda": lambda m: MGDA(),
    "upgrad": lambda m: UPGrad(),
    "dualproj": lambda m: DualProj(),
    "imtl-g": lambda m: IMTLG(),
    "cagrad": lambda m: CAGrad(c=0.5),
    "aligned-mtl": lambda m: AlignedMTL(),
    "config": lambda m: ConFIG(),
    # A fresh (stateful) instance per matrix; max_norm = 1, as torchjd's default.
    "nash-mtl": lambda m: NashMTL(n_tasks=len(m)),
}

# Matrices a method's reference cannot handle: torchjd's NashMTL raises at T = 1 (cvxpy), and
# with a zero row its ECOS solve fails and falls back to its initial weights (the equation
# G a = 1/a has no solution there).
SKIP = {"nash-mtl": {"t1", "zero_row"}}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {k: torch.round(m * 1e9) / 1e9 for k, m in matrices().items()}
    for name, make in METHODS.items():
        out = []
        for label, m in cases.items():
            if label in SKIP.get(name, ()):
                continue
            expected = make(m)(m.clone())
            out.append(
                {
                    "label": label,
                    "matrix": [[round(x, 9) for x in row] for row in m.tolist()],
                    "expected": [float(f"{x:.12g}") for x in expected.tolist()],
                }
            )
        doc = {"method": name, "reference": f"torchjd {version('torchjd')}", "cases": out}
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
