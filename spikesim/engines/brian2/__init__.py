"""The Brian2 engines: ``brian2`` and ``brian2-cython`` (runtime), ``brian2-standalone``
(cpp_standalone, compiled once per structure) and ``brian2-cuda`` (brian2cuda; extends
the standalone engine).

Modules, in import order (each imports only those before it): :mod:`.common` (option
checks, errors, the spike record), :mod:`.options` (the typed build-options record),
:mod:`.model` (the spiking model as Brian2 objects), :mod:`.codegen` (project generation,
run in a child process), :mod:`.project` (cache, compilation, running a binary),
:mod:`.runtime`, :mod:`.standalone`, :mod:`.cuda` (the engines). Importing this package
registers the engines; Brian2 itself is imported only when an engine runs.
"""

from spikesim.engines.brian2.cuda import CudaEngine
from spikesim.engines.brian2.options import BuildOptions
from spikesim.engines.brian2.runtime import Brian2Engine
from spikesim.engines.brian2.standalone import Brian2StandaloneEngine

__all__ = ["Brian2Engine", "Brian2StandaloneEngine", "BuildOptions", "CudaEngine"]
