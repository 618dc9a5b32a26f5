"""Neural tangent kernels: networks, empirical kernels and the ``ntk()`` term's options."""

from .empirical import empirical_ntk, jacobian_ntk, layerwise_ntk, network_output
from .networks import NTKLinear, build_mlp
from .spec import InputScaler, NTKFeatures, NTKSpec, ntk_operator

__all__ = [
    "InputScaler",
    "NTKFeatures",
    "NTKLinear",
    "NTKSpec",
    "build_mlp",
    "empirical_ntk",
    "jacobian_ntk",
    "layerwise_ntk",
    "network_output",
    "ntk_operator",
]
