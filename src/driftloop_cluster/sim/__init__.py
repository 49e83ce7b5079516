"""The cluster in miniature: the rendered dev overlay's topology as processes on 127.0.0.1.

``python -m driftloop_cluster.sim`` (``make cluster-sim``) starts every workload of the
rendered overlay from its own command, args and env, with stand-ins only for what cannot run
here, runs the shared scenario (:mod:`driftloop_cluster.sim.scenario`) and prints a table.
"""
