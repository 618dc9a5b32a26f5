"""ntkmixed: neural network training as a random-effects model.

A network trained for time τ by squared-error gradient flow in the NTK regime is exactly the
BLUP of a linear mixed model whose random effect has covariance σ²(e^{τH} − I), H = Θ/n
(Yao, Wang, Lin, Liu & Liu 2026, arXiv:2605.27991). ``NTKMixedLM`` fits τ by REML, tests
τ = 0, and reports results in the shape of statsmodels' ``MixedLMResults``.
"""

from .formula import DataWarning
from .kernels import NTKSpec, ntk_kernel
from .model import NTKMixedLM
from .prediction import PredictionResults
from .reml import ConvergenceWarning, IntervalWarning
from .results import LearningRateWarning, NTKMixedLMResults
from .spectral import KernelWarning
from .training import TrainingRun, TrainingWarning
from .vctest import TrainingTestResult

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataWarning",
    "IntervalWarning",
    "KernelWarning",
    "LearningRateWarning",
    "NTKMixedLM",
    "NTKMixedLMResults",
    "NTKSpec",
    "PredictionResults",
    "TrainingRun",
    "TrainingTestResult",
    "TrainingWarning",
    "__version__",
    "ntk_kernel",
]
