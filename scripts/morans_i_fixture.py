"""Local Moran's I of a few grids by esda (PySAL), binary queen contiguity: the fixture
tests/fixtures/morans_i_esda.json of src/train/morans_i.rs. Run in a throwaway venv:

    python3 -m venv /tmp/esda && /tmp/esda/bin/pip install esda libpysal numpy
    /tmp/esda/bin/python scripts/morans_i_fixture.py > tests/fixtures/morans_i_esda.json
"""
import json
import numpy as np
import esda
import libpysal
from importlib.metadata import version

rng = np.random.default_rng(7)
cases = []
for (h, w, kind) in [(10, 10, "random"), (5, 5, "random"), (10, 10, "blocks"), (4, 6, "sparse")]:
    if kind == "random":
        y = rng.normal(size=(h, w))
    elif kind == "blocks":
        y = np.kron(rng.integers(0, 3, size=(h // 5, w // 5)), np.ones((5, 5))) + 0.01 * rng.normal(size=(h, w))
    else:
        y = (rng.random(size=(h, w)) < 0.2).astype(float)
    wq = libpysal.weights.lat2W(h, w, rook=False)
    m = esda.Moran_Local(y.reshape(-1), wq, transformation="b", permutations=0)
    cases.append({"height": h, "width": w, "values": y.reshape(-1).tolist(), "local_i": m.Is.tolist()})
print(json.dumps({"esda": version("esda"), "libpysal": version("libpysal"), "cases": cases}))
