"""`ovpnctl up`: a foreground supervisor that owns one tunnel for an init system.

It applies a config, then stays: holding the transport sockets (Linux removes a peer
when its socket closes; FreeBSD accepts one socket per interface, so only its holder
can add peers later), re-applying on SIGHUP, logging every kernel notification, and
tearing the tunnel down on SIGTERM/SIGINT. Other ovpnctl commands reach it through a
root-only control socket (`control`).
"""
