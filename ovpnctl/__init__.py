"""ovpnctl: drive the kernel's OpenVPN data channel offload (FreeBSD if_ovpn, Linux ovpn)."""

__version__ = "0.1.0"
