"""Neural tangent kernels: networks, empirical kernels and the ``ntk()`` term's options."""

from .analytic import analytic_ntk
from .empirical import (
    empirical_ntk,
    empirical_ntk_diag,
    jacobian_ntk,
    layerwise_ntk,
    network_output,
)
from .networks import NTKLinear, build_mlp
from .spec import InputScaler, NTKFeatures, NTKSpec, ntk_kernel, ntk_operator

__all__ = [
    "InputScaler",
    "NTKFeatures",
    "NTKLinear",
    "NTKSpec",
    "analytic_ntk",
    "build_mlp",
    "empirical_ntk",
    "empirical_ntk_diag",
    "jacobian_ntk",
    "layerwise_ntk",
    "network_output",
    "ntk_kernel",
    "ntk_operator",
]
