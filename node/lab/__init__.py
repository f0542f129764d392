"""The lab: tools that run whole hierarchies of nodes rather than one node.

- ``harness``: real `plansync serve` (and `worker`) processes on loopback ports
  (`ProcessCluster`; `plansync cluster`, `plansync demo`, fault tests, benchmarks);
- ``simulate``: many nodes in one process (`Simulation`; benchmarks, national simulation);
- ``transport``: the one `RoutingTransport` that connects in-process nodes (the simulation
  and tests/cluster.py);
- ``demo``: `plansync demo`;
- ``consistency``: the whole-tree consistency check (`check_tree`).

Layering: the lab sits on top of the wiring (it may import the app, the wiring and anything
below); nothing in ``node/`` imports it except the CLI.
"""
