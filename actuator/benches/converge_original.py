"""`up` and `down` of the orchestrate bench's shapes through the Python original (haxsaw/actuator,
its `development` branch) with a proxy that does nothing, so what is timed is the original's own
cost per resource: its task engine, threads and bookkeeping.

    PYTHONPATH=<checkout>/src <checkout>/venv/bin/python converge_original.py SHAPE N [THREADS]

* `flat N`: N independent networks;
* `chains N`: 10 chains of N/10 servers, each link's argument referring to the previous link.

The Rust bench keys its resources in a MultiResource; here each resource is a component of its own
(a model class made with N attributes), which gives the same graph: the original's MultiResource
cannot name "the previous key" for the chains, and creating its instances one key at a time is
quadratic in the original (each new key recomputes the references of all the others: hours at
20,000). Building the model is not timed either way.

Prints `up <seconds>` and `down <seconds>` (wall), then `up_cpu` and `down_cpu` (CPU, all threads). actuator/benches/converge.rs runs it when
ACTUATOR_BENCH_PYTHON names the checkout (its venv in <checkout>/venv); the README says how that
venv is made. The original's task engine runs THREADS worker threads (default 8, its best figure
on 2 cores of 1 to 64 tried; more threads only add contention when every task is immediate).
"""

import collections
import collections.abc
import sys
import time

# The original imports the ABCs from `collections` (gone in Python 3.10); put them back first.
for _name in collections.abc.__all__:
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import logging  # noqa: E402

from actuator import ActuatorOrchestration, InfraModel, ctxt  # noqa: E402
from actuator.provisioners.core import (  # noqa: E402
    AbstractRunContext,
    BaseProvisionerProxy,
    ProvisioningTask,
)
from actuator.provisioners.example_resources import Network, Server  # noqa: E402


class NullTask(ProvisioningTask):
    """Provisions nothing: it only resolves the resource's arguments, as the original's own
    `NullProvisioningTask` (for static servers) does, so references are followed as with a real
    proxy."""

    def _perform(self, engine):
        self.rsrc._refix_arguments()

    def _reverse(self, engine):
        return


class NullProxy(BaseProvisionerProxy):
    def __init__(self):
        super(NullProxy, self).__init__("null")

    def get_resource_taskclass(self, rsrc):
        return NullTask if isinstance(rsrc, (Network, Server)) else None

    def run_context_factory(self):
        return AbstractRunContext()


def flat_model(n):
    """n independent networks."""
    return type("Flat", (InfraModel,), {"n%d" % k: Network("net") for k in range(n)})


def chains_model(n):
    """10 chains of n/10 links: link c_i refers to link c_{i-1}."""
    attrs = {}
    for c in range(10):
        for i in range(n // 10):
            if i == 0:
                attrs["l%d_%d" % (c, i)] = Server("link")
            else:
                prev = getattr(ctxt.model, "l%d_%d" % (c, i - 1))
                attrs["l%d_%d" % (c, i)] = Server("link", mem=prev)
    return type("Chains", (InfraModel,), attrs)


def main():
    shape, n = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    # The original logs every task at INFO; the Rust run's events go to a null handler.
    logging.disable(logging.CRITICAL)
    if shape == "flat":
        infra = flat_model(n)("flat")
    elif shape == "chains":
        infra = chains_model(n)("chains")
    else:
        sys.exit("unknown shape %s (flat or chains)" % shape)
    orch = ActuatorOrchestration(infra_model_inst=infra, provisioner_proxies=[NullProxy()],
                                 num_threads=threads, no_delay=True, post_prov_pause=0)
    t, c = time.time(), time.process_time()
    ok = orch.initiate_system()
    up, up_cpu = time.time() - t, time.process_time() - c
    if not ok:
        sys.exit("up failed")
    t, c = time.time(), time.process_time()
    ok = orch.teardown_system()
    down, down_cpu = time.time() - t, time.process_time() - c
    if not ok:
        sys.exit("down failed")
    print("up %.3f" % up)
    print("down %.3f" % down)
    # CPU time of all its threads: on a shared machine, what the run cost rather than how long
    # it waited for a core.
    print("up_cpu %.3f" % up_cpu)
    print("down_cpu %.3f" % down_cpu)


if __name__ == "__main__":
    main()
