"""The batch kernels this install has, one run of a test each (``each_kernel``).

``indicators.kernels`` runs the first it can of the C loops, numba and the list loops; the others
are what another install runs (no compiler; the ``fast`` extra), so the parity tests run them all.
"""

from __future__ import annotations

import pytest

from indicators import kernels

KINDS = [kind for kind, present in (("numba", kernels.IS_COMPILED), ("c", kernels.C_KERNELS is not None),
                                    ("python", True)) if present]


@pytest.fixture(scope="module", params=KINDS)
def each_kernel(request):
    kind = request.param
    if kind == "numba":
        kernels.load_numba()  # imported only where its loops run: here, beside the C loops in use
    saved = kernels.KERNELS, kernels._c
    kernels.KERNELS, kernels._c = kind, (kernels.C_KERNELS if kind == "c" else None)
    try:
        yield kind
    finally:
        kernels.KERNELS, kernels._c = saved
