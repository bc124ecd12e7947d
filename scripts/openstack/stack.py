"""The Python half of scripts/openstack.sh, run with the stack's own venv.

usage: stack.py render TEMPLATE DEST [TEMPLATE DEST ...]
           fill ${NAME}s in each template from the environment (a missing name is an error)
       stack.py neutron-schema URL
           create Neutron's tables from its models (see below)
       stack.py keystone
           idempotent: roles, the `service` project and one user per service, the catalog
           (endpoints are moved when the ports change), projects/users `demo` and `limited`
       stack.py seed
           idempotent: external flat network `public` + subnet, raised quotas for `admin` and
           `demo`; with Nova also flavor `m1.tiny`, raw image `cirros` and the compute host
       stack.py warm
           one read of each kind as `demo`, so the first concurrent requests find policies loaded
       stack.py wait-nova SINCE BINARY...
           until each Nova service BINARY has reported since SINCE (epoch seconds)
       stack.py selftest
           the end-to-end check (see `selftest` below); prints one line per step

Everything but `render` and `neutron-schema` reads the environment set by openstack.sh:
OS_CLIENT_CONFIG_FILE (clouds admin, demo and limited), OS_STACK_WITH_NOVA, OS_STACK_STATE and
the endpoint URLs OS_STACK_{KEYSTONE,NEUTRON,NOVA,PLACEMENT,GLANCE}_URL.
"""
import os
import string
import sys
import time

# Quotas of the `admin` and `demo` projects: the proxy's tests create a few networks, routers,
# security groups, servers and floating IPs each, and its benchmark K = 50 servers with a
# floating IP each, at once. Every other project (`limited`, or one a test makes) keeps the
# upstream defaults, so quota errors stay testable there: 10 security groups (the project's
# `default` group counts), 10 routers, 50 floating IPs, 10 instances, 20 cores.
NETWORK_QUOTAS = dict(
    networks=200, subnets=200, ports=2000, routers=100, floating_ips=200,
    security_groups=200, security_group_rules=2000,
)
COMPUTE_QUOTAS = dict(instances=200, cores=400, ram=200 * 1024, key_pairs=200, server_groups=50)

SERVICES = {  # catalog type -> (service/user name, URL environment variable)
    "network": ("neutron", "OS_STACK_NEUTRON_URL"),
    "compute": ("nova", "OS_STACK_NOVA_URL"),
    "placement": ("placement", "OS_STACK_PLACEMENT_URL"),
    "image": ("glance", "OS_STACK_GLANCE_URL"),
}


def log(msg):
    sys.stderr.write("stack.py: %s\n" % msg)
    sys.stderr.flush()


def with_nova():
    return os.environ.get("OS_STACK_WITH_NOVA", "1") == "1"


def connect(cloud):
    import openstack

    return openstack.connect(cloud=cloud)


def render(args):
    for src, dest in zip(args[0::2], args[1::2]):
        with open(src) as f:
            text = string.Template(f.read()).substitute(os.environ)
        with open(dest + ".new", "w") as f:
            f.write(text)
        os.replace(dest + ".new", dest)


def neutron_schema(url):
    """`neutron-db-manage upgrade heads` fails on PostgreSQL with Neutron 29: a 2025.2 expand
    migration runs MySQL-only SQL (`ALTER TABLE tags CONVERT TO CHARACTER SET utf8mb4`). So the
    schema comes from the models, as Neutron's own unit tests build theirs; openstack.sh then
    stamps the migration heads."""
    import sqlalchemy as sa
    from neutron.db.migration.models import head

    metadata = head.get_metadata()
    metadata.create_all(sa.create_engine(url))
    log("neutron: %d tables" % len(metadata.tables))


def keystone():
    conn = connect("admin")
    idn = conn.identity
    password = conn.config.auth["password"]
    domain = idn.find_domain("default", ignore_missing=False)

    def role(name):
        return idn.find_role(name) or idn.create_role(name=name)

    def project(name):
        return idn.find_project(name, domain_id=domain.id) or idn.create_project(
            name=name, domain_id=domain.id)

    def user(name, proj, roles):
        u = idn.find_user(name, domain_id=domain.id)
        if u is None:
            u = idn.create_user(name=name, password=password, domain_id=domain.id,
                                default_project_id=proj.id)
        for r in roles:
            idn.assign_project_role_to_user(proj, u, r)
        return u

    admin, member, service_role = role("admin"), role("member"), role("service")
    role("reader")
    service = project("service")
    for name in ("demo", "limited"):
        user(name, project(name), [member])
    endpoints = {t: os.environ[v] for t, (_, v) in SERVICES.items() if os.environ.get(v)}
    for stype, url in endpoints.items():
        name = SERVICES[stype][0]
        user(name, service, [admin, service_role])
        svc = next(iter(idn.services(type=stype)), None) or idn.create_service(
            name=name, type=stype)
        have = {e.interface: e for e in idn.endpoints(service_id=svc.id)}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                idn.create_endpoint(service_id=svc.id, interface=iface, url=url,
                                    region_id="RegionOne")
            elif have[iface].url != url:
                idn.update_endpoint(have[iface], url=url)
    log("keystone catalog: " + ", ".join("%s=%s" % kv for kv in sorted(endpoints.items())))


def wait_for(what, check, timeout=120):
    deadline = time.time() + timeout
    while True:
        try:
            if check():
                return
        except Exception as e:  # the service may still be coming up
            last = e
        else:
            last = None
        if time.time() > deadline:
            raise SystemExit("stack.py: %s: not after %d s%s" % (
                what, timeout, ": %s" % last if last else ""))
        time.sleep(1)


def seed():
    conn = connect("admin")
    net = conn.network
    public = net.find_network("public")
    if public is None:
        public = net.create_network(
            name="public", is_router_external=True, is_shared=True,
            provider_network_type="flat", provider_physical_network="public")
    if not list(net.subnets(network_id=public.id)):
        net.create_subnet(
            name="public-subnet", network_id=public.id, ip_version=4,
            cidr="172.24.4.0/24", gateway_ip="172.24.4.1", is_dhcp_enabled=False,
            allocation_pools=[{"start": "172.24.4.10", "end": "172.24.4.250"}])
    for proj in ("admin", "demo"):
        conn.set_network_quotas(proj, **NETWORK_QUOTAS)
    if not with_nova():
        return
    if conn.compute.find_flavor("m1.tiny") is None:
        conn.compute.create_flavor(name="m1.tiny", id="1", ram=512, vcpus=1, disk=1,
                                   is_public=True)
    if conn.image.find_image("cirros") is None:
        # Glance checks formats: a file of zeros is a valid `raw` image, not a qcow2 one.
        path = os.path.join(os.environ["OS_STACK_STATE"], "cirros.raw")
        with open(path, "wb") as f:
            f.write(b"\0" * (1 << 20))
        conn.create_image("cirros", filename=path, disk_format="raw",
                          container_format="bare", visibility="public", wait=True)
    for proj in ("admin", "demo"):
        conn.set_compute_quotas(proj, **COMPUTE_QUOTAS)
    # The compute host registers itself, and the scheduler maps it into cell1 within 2 s
    # (discover_hosts_in_cells_interval).
    wait_for("hypervisor compute1 up", lambda: any(
        h.state == "up" for h in conn.compute.hypervisors()))


def warm():
    """One read of each kind as the `demo` user, after every start. A freshly started Neutron
    loads its policy rules on the first request; concurrent first requests raced that once and a
    network create was refused by policy (403) right after a restart. Serial reads load them."""
    conn = connect("demo")
    for listing in (conn.network.networks, conn.network.routers, conn.network.security_groups,
                    conn.network.ports, conn.network.ips):
        next(iter(listing(limit=1)), None)  # one page: the generator would fetch them all
    if with_nova():
        next(iter(conn.compute.servers(limit=1)), None)


def wait_nova(since, binaries):
    """Until each of Nova's RPC services (re)started at `since` (epoch seconds) has reported
    since then: it then consumes its queue. A service's record says `up` for 60 s after its last
    report, so after a restart `up` alone does not mean a request would be served."""
    import datetime

    conn = connect("admin")
    since = datetime.datetime.fromtimestamp(float(since), datetime.timezone.utc).replace(tzinfo=None)

    def reported():
        fresh = {s.binary for s in conn.compute.services() if s.state == "up" and s.updated_at
                 and datetime.datetime.fromisoformat(s.updated_at.rstrip("Z")).replace(tzinfo=None) >= since}
        return set(binaries) <= fresh

    wait_for("%s reporting" % ", ".join(binaries), reported, timeout=180)


def selftest():
    """Every kind of resource the proxy manages, created and deleted as the `demo` user through
    the real APIs; with Nova a server booted to ACTIVE on a port. Then the quota check in the
    `limited` project. Prints one line per step with its time; exits 1 at the first failure."""
    import openstack.exceptions as exc

    conn = connect("demo")
    net, compute = conn.network, conn.compute
    tag = "selftest-%d" % os.getpid()
    made = []  # (what, delete) in creation order
    t_all = time.time()

    def step(what, fn):
        t0 = time.time()
        try:
            out = fn()
        except Exception as e:
            raise SystemExit("FAIL %s: %s" % (what, str(e).splitlines()[0] if str(e) else repr(e)))
        print("ok   %-44s %6.2f s" % (what, time.time() - t0), flush=True)
        return out

    try:
        public = step("find external network public", lambda: net.find_network(
            "public", ignore_missing=False))
        n = step("network create", lambda: net.create_network(name=tag))
        made.append(("network delete", lambda: net.delete_network(n)))
        s = step("subnet create", lambda: net.create_subnet(
            name=tag, network_id=n.id, ip_version=4, cidr="10.250.0.0/24"))
        made.append(("subnet delete", lambda: net.delete_subnet(s)))
        r = step("router create", lambda: net.create_router(name=tag))
        made.append(("router delete", lambda: net.delete_router(r)))
        step("router gateway on public", lambda: net.update_router(
            r, external_gateway_info={"network_id": public.id}))
        made.append(("router gateway clear", lambda: net.update_router(
            r, external_gateway_info={})))
        step("router interface on the subnet", lambda: net.add_interface_to_router(
            r, subnet_id=s.id))
        made.append(("router interface remove", lambda: net.remove_interface_from_router(
            r, subnet_id=s.id)))
        sg = step("security group create", lambda: net.create_security_group(name=tag))
        made.append(("security group delete", lambda: net.delete_security_group(sg)))
        step("security group rule create (tcp/22)", lambda: net.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4",
            protocol="tcp", port_range_min=22, port_range_max=22,
            remote_ip_prefix="0.0.0.0/0"))
        p = step("port create", lambda: net.create_port(
            name=tag, network_id=n.id, security_group_ids=[sg.id]))
        made.append(("port delete", lambda: net.delete_port(p)))
        fip = step("floating ip create for the port", lambda: net.create_ip(
            floating_network_id=public.id, port_id=p.id))
        made.append(("floating ip delete", lambda: net.delete_ip(fip)))
        print("     floating ip %s -> %s" % (fip.floating_ip_address, fip.fixed_ip_address))
        if with_nova():
            flavor = compute.find_flavor("m1.tiny", ignore_missing=False)
            image = conn.image.find_image("cirros", ignore_missing=False)
            srv = step("server create on the port", lambda: compute.create_server(
                name=tag, flavor_id=flavor.id, image_id=image.id, networks=[{"port": p.id}]))
            made.append(("server delete (waited)", lambda: (
                compute.delete_server(srv), compute.wait_for_delete(srv, wait=120))))
            srv = step("server ACTIVE", lambda: compute.wait_for_server(
                srv, status="ACTIVE", failures=["ERROR"], wait=120))
            # The binding attributes are for admins' eyes only.
            bound = step("port bound to the server", lambda: connect("admin").network.get_port(p.id))
            if (bound.binding_host_id, bound.status, bound.device_id) != ("compute1", "ACTIVE", srv.id):
                raise SystemExit("FAIL port after boot: host %r, status %r, device %r" % (
                    bound.binding_host_id, bound.status, bound.device_id))
            print("     server %s on %s, addresses %s" % (
                srv.status, bound.binding_host_id, srv.addresses))
    finally:
        failed = None
        for what, undo in reversed(made):
            try:
                step(what, undo)
            except SystemExit as e:
                failed = failed or e
        if failed:
            raise failed
    quota_check(exc)
    print("selftest passed in %.1f s" % (time.time() - t_all))


def quota_check(exc):
    """The upstream default of 10 security groups, in the `limited` project: its `default`
    group is one of them, so the 10th a test creates gets HTTP 409."""
    net = connect("limited").network
    list(net.security_groups())  # makes the project's `default` group
    have = len(list(net.security_groups()))
    made = []
    try:
        while len(made) < 30:
            try:
                made.append(net.create_security_group(
                    name="quota-%d-%d" % (os.getpid(), len(made) + 1)))
            except exc.HttpException as e:
                if e.status_code != 409:
                    raise
                print("ok   security group create #%d in project limited (which had %d): HTTP 409, "
                      "%s" % (len(made) + 1, have, (e.details or str(e)).splitlines()[0][:80]))
                return
        raise SystemExit("FAIL no quota error after %d security groups" % len(made))
    finally:
        for sg in made:
            net.delete_security_group(sg)


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if cmd == "render":
        render(args)
    elif cmd == "neutron-schema":
        neutron_schema(args[0])
    elif cmd == "keystone":
        keystone()
    elif cmd == "seed":
        seed()
    elif cmd == "warm":
        warm()
    elif cmd == "wait-nova":
        wait_nova(args[0], args[1:])
    elif cmd == "selftest":
        selftest()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
