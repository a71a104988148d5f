"""
A theorem check: Schmidt-Hieber's Theorem 1
===========================================

The mean of one zero-order update equals the right-hand side of SH eq. (4.6); the Monte
Carlo estimate's relative error should fall like ``1/sqrt(n)`` with the number of draws
``n`` (``spikesim theory sh-theorem1`` runs the full check, 10^6 draws). Here 40,000
draws and two dimensions.
"""

import numpy as np

from spikesim import plots
from spikesim.zeroorder.check_theorem import sh_theorem1

res = sh_theorem1(samples=40_000, dims=(2, 4), seed=0)
print(f"largest relative error {res['relative_error']:.4f}, slope {res['slope']:.2f}")
n = np.asarray(res["n"], float)
curves = {
    f"{c['kind']}, d={c['d']}": (n, np.asarray(c["relative_error_by_n"])) for c in res["cases"]
}
curves["1/sqrt(n) reference"] = (n, res["rms_relative_error_by_n"][0] * np.sqrt(n[0] / n))
ax = plots.learning_curves(
    curves,
    xlabel="Monte Carlo draws n",
    ylabel="relative error ||mean - rhs|| / ||rhs||",
    title="SH eq. (4.6): mean zero-order update",
)
ax.set_xscale("log")
ax.set_yscale("log")
