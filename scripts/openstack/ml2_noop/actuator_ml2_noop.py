"""An ML2 mechanism driver that binds every port, on every host, with no agent.

Nova's fake virt driver needs its ports bound before a server goes ACTIVE; in a real cloud an
L2 agent's driver does that. This one binds the first segment offered with vif_type `ovs` and
sets the port ACTIVE, through ML2's path for agent-less drivers (`set_binding(..., status=)`).
"""
from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class NoopBindDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
