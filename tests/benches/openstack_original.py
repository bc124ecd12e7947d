"""The benchmark's model through the Python original's OpenStack proxy (haxsaw/actuator, its
`development` branch, on shade + os-client-config), against the same cloud as the Rust run:
`OS_CLIENT_CONFIG_FILE` and `OS_CLOUD` name it. Prints `up <seconds>` and `down <seconds>`.

    PYTHONPATH=<checkout>/src <venv>/bin/python openstack_original.py K

tests/benches/openstack.rs runs it when OPENSTACK_BENCH_PYTHON names the checkout (with its
venv in <checkout>/venv); the README says how that venv is made.
"""

import collections
import collections.abc
import os
import sys
import time

# The original was written for Python 2.7 / 3.6: it imports the ABCs from `collections`, which
# Python 3.10 moved out. Put them back before it is imported.
for _name in collections.abc.__all__:
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import shade

# The original passes every optional server argument, unset ones as None or (the block device
# mappings) as empty lists. shade takes the mere presence of `block_device_mapping_v2` for a boot
# from volume and posts to the legacy `/os-volumes_boot` route, which Nova 34 answers with a 500
# (its schema validation finds no body there). Drop the unset arguments so the server is created
# through `/servers`, as the original meant.
_create_server = shade.OpenStackCloud.create_server


def _create_server_without_unset(self, *args, **kwargs):
    unset = [k for k, v in kwargs.items()
             if v is None or (k.startswith("block_device_mapping") and not v)]
    for k in unset:
        del kwargs[k]
    return _create_server(self, *args, **kwargs)


shade.OpenStackCloud.create_server = _create_server_without_unset

from actuator import ActuatorOrchestration, InfraModel, MultiResource, ctxt
from actuator.provisioners.openstack import OpenStackProvisionerProxy
from actuator.provisioners.openstack.resources import (
    FloatingIP,
    Network,
    Router,
    RouterGateway,
    RouterInterface,
    SecGroup,
    SecGroupRule,
    Server,
    Subnet,
)


class Bench(InfraModel):
    net = Network("bench-net")
    subnet = Subnet("bench-subnet", ctxt.model.net, "10.20.0.0/20")
    router = Router("bench-router")
    gateway = RouterGateway("bench-gw", ctxt.model.router, "public")
    rinter = RouterInterface("bench-rinter", ctxt.model.router, ctxt.model.subnet)
    sg = SecGroup("bench-sg", description="SSH in")
    ssh = SecGroupRule("ssh", ctxt.model.sg, ip_protocol="tcp", from_port=22, to_port=22,
                       cidr="0.0.0.0/0")
    nodes = MultiResource(Server("node", "cirros", "m1.tiny",
                                 nics=[ctxt.comp.container.container.net],
                                 security_groups=[ctxt.comp.container.container.sg]))
    ips = MultiResource(FloatingIP("node-ip", ctxt.comp.container.container.nodes[ctxt.name],
                                   ctxt.comp.container.container.nodes[ctxt.name].iface0.addr0,
                                   pool="public"))


def main():
    k = int(sys.argv[1])
    infra = Bench("bench")
    for i in range(k):
        _ = infra.nodes[i]
        _ = infra.ips[i]
    proxy = OpenStackProvisionerProxy(os.environ["OS_CLOUD"])
    # Same parallelism as the Rust run; no start-up jitter, no pause after provisioning.
    orch = ActuatorOrchestration(infra_model_inst=infra, provisioner_proxies=[proxy],
                                 num_threads=max(10, k), no_delay=True, post_prov_pause=0)
    t = time.time()
    ok = orch.initiate_system()
    up = time.time() - t
    if not ok:
        print("up failed", file=sys.stderr)
        orch.teardown_system()
        sys.exit(1)
    t = time.time()
    ok = orch.teardown_system()
    down = time.time() - t
    if not ok:
        print("down failed", file=sys.stderr)
        sys.exit(1)
    print("up %.3f" % up)
    print("down %.3f" % down)


if __name__ == "__main__":
    main()
