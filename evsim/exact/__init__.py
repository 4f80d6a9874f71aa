"""Exact continuous time: neurons in SI units whose spikes happen at real-valued times, run by the same engine.

``evsim.exact.LIF(n, tau_m=..., ...)`` etc. build populations; a `evsim.Network` of them is an exact-time network:
projection delays are seconds (floats), ``evsim.run(net, evsim.EventStream(times_s, idx), duration=seconds)``
returns spike times in seconds. `poisson_source(name, n, rate_hz)` adds Poisson input drawn in continuous time
(`evsim.exact.poisson`); a `ConvProjection` becomes its explicit synapses (`evsim.exact.conv`). See
`evsim.exact.neurons` for the equations and NEST's rules, and `evsim.engine.queue` for how times are kept exact.
"""

from .neurons import IF, LI, LIF, CubaLI, CubaLIF, ExactNeuron, from_nest, make_exact
from .poisson import poisson_source

__all__ = ["LIF", "IF", "LI", "CubaLIF", "CubaLI", "ExactNeuron", "from_nest", "make_exact", "poisson_source"]
