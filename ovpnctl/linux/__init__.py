"""Linux backend: the in-tree `ovpn` driver (Linux 6.16+) over rtnetlink and generic netlink.

Layers, bottom up: `nla` (attribute codec), `nlsock` (netlink socket, extended acks),
`genl` (the ovpn family's tables and discovery), `messages` (model <-> attributes),
`transport` (checking a peer's socket), `errors` (refusals -> sentences), `rtnl`
(links), `events` (the `peers` multicast listener), `backend` (the Backend contract).
"""
