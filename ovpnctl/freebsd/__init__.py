"""FreeBSD if_ovpn backend: ioctls carrying libnv packed nvlists.

Layers, bottom up: `ifdrv` (struct layouts and ioctl numbers), `transport` (the ioctl seam:
real, or a dry-run recorder), `requests`/`replies` (typed model <-> nvlist), `commands`
(one table of every OVPN_* command), `errors` (errno -> one sentence), `backend`.
"""
