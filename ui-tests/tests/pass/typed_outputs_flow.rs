// Typed outputs flow where their type is wanted (issue 11, family 3): a server's `Out<IpAddr>`
// into an address argument, a network's `Out<Id<Network>>` into an id of that kind, a namespace
// variable and literal text into typed arguments, and any output into a free-form one with
// `.text()`.
use std::net::{IpAddr, Ipv4Addr};

use actuator::infra::test::{FloatingIp, Network, Server, Subnet};
use actuator::prelude::*;

#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "lab.Peering", outputs(id: Id<Self>, ip: IpAddr, port: Port))]
pub struct Peering {
    name: String,
    peer: Val<Id<Network>>,
    endpoint: Val<IpAddr>,
    port: Val<Port>,
}

impl Peering {
    pub fn new(
        name: &str,
        peer: impl IntoVal<Id<Network>>,
        endpoint: impl IntoVal<IpAddr>,
    ) -> Self {
        Peering {
            name: name.into(),
            peer: peer.into_val(),
            endpoint: endpoint.into_val(),
            port: Val::Lit(Port(4789)),
        }
    }
    pub fn port(mut self, port: impl IntoVal<Port>) -> Self {
        self.port = port.into_val();
        self
    }
}

#[derive(InfraModel)]
#[infra(namespace = LabNs)]
struct Lab {
    #[component(Network::new("net").cidr(ctx.nexus.ns.v.RANGE))]
    net: Network,
    #[component(Subnet::new("sub", ctx.model.net, "10.0.1.0/24"))]
    sub: Subnet,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]).meta("net", ctx.model.net.id.text()))]
    web: Server,
    #[component(FloatingIp::new("fip", ctx.model.web, ctx.model.web.ip))]
    fip: FloatingIp,
    #[component(Peering::new("peer", ctx.model.net.id, ctx.model.fip.ip).port(ctx.model.other.port))]
    peering: Peering,
    #[component(Peering::new("other", "net-0a1b", IpAddr::V4(Ipv4Addr::LOCALHOST)).port(8472))]
    other: Peering,
}

namespace! {
    struct LabNs for Lab {
        vars { RANGE = "10.0.0.0/16" }
        web: Role = Role::new("web").host_ref(infra.fip),
    }
}

fn main() {
    let lab = Lab::instance("lab");
    let _ns = LabNs::instance("ns", &lab);
    let fip = lab.get::<FloatingIp>(&lab.root().fip).unwrap();
    assert_eq!(fip.fixed_ip, Val::Out(lab.root().web.ip));
    let other = lab.get::<Peering>(&lab.root().other).unwrap();
    assert_eq!(other.peer, Val::Lit("net-0a1b".parse().unwrap()));
    assert_eq!(other.port, Val::Lit(Port(8472)));
    let sub = lab.get::<Subnet>(&lab.root().sub).unwrap();
    assert_eq!(sub.cidr, Val::Lit("10.0.1.0/24".parse().unwrap()));
}
