"""Runners of the peer simulators (NEST, Brian2), each in its own virtual environment (setup_peers.sh)."""
