"""The `ovpnctl` command line: click commands over the `Backend` interface.

Only this package imports click (eagerly) and rich (lazily, in table output paths).
Each command group lives in its own `commands_*` module and is registered by name in
`main.COMMANDS`, so a new group is one module plus one table row.
"""
