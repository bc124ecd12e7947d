use actuator::infra::test::{Network, Subnet};
use actuator::model::IntoRef;
use actuator::prelude::*;

/// A peering between the model's network and another, given by id.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "lab.Peering", outputs(id: Id<Self>))]
pub struct Peering {
    name: String,
    network: Ref<Network>,
    peer: Val<Id<Network>>,
}

impl Peering {
    pub fn new(
        name: &str,
        network: impl IntoRef<Network>,
        peer: impl IntoVal<Id<Network>>,
    ) -> Self {
        Peering {
            name: name.into(),
            network: network.into_ref(),
            peer: peer.into_val(),
        }
    }
}

#[derive(InfraModel)]
struct Lab {
    #[component(Network::new("a"))]
    a: Network,
    #[component(Network::new("b"))]
    b: Network,
    #[component(Subnet::new("b-sub", ctx.model.b, "10.1.0.0/24"))]
    b_sub: Subnet,
    // The subnet's id, where the network's (`ctx.model.b.id`) was meant.
    #[component(Peering::new("a-b", ctx.model.a, ctx.model.b_sub.id))]
    peering: Peering,
}

fn main() {}
