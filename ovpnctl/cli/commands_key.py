"""`ovpnctl key`: install, swap and delete a peer's data-channel keys.

Key bytes come from files or standard input only. An argument that looks like key
material rather than a file name is refused without echoing it: it is already in the
shell history, and the message says so.
"""

from __future__ import annotations

import os
import re

import click

from ovpnctl.cli.common import dry_run_option, pass_state, show_keys_option
from ovpnctl.cli.params import CIPHER, IFACE, KEY_ID, PEER_ID, SLOT
from ovpnctl.cli.state import CliState
from ovpnctl.errors import UsageError
from ovpnctl.keyfile import STDIN_NAME, read_direction
from ovpnctl.keys import IMPLICIT_IV_LEN, Cipher, KeyConfig, KeyDirection, KeySlot

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@click.group("key")
def key() -> None:
    """Install, swap and delete the data-channel keys of a peer.

    Each peer has a primary and a secondary key slot; rollover is: add the new
    key as secondary, swap, delete the (now secondary) old key.

    \b
    Example:
      ovpnctl key add ovpn0 1 --cipher AES-256-GCM --key-id 0 \\
          --encrypt-key a-to-b.key --decrypt-key b-to-a.key
    """


@key.command("add")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@click.option("--cipher", required=True, type=CIPHER, help="AEAD cipher of both directions.")
@click.option("--key-id", required=True, type=KEY_ID, help="OpenVPN key id, 0-7.")
@click.option(
    "--slot",
    type=SLOT,
    default="primary",
    show_default=True,
    help="primary keys encrypt; a secondary key only decrypts until 'key swap'.",
)
@click.option(
    "--encrypt-key",
    metavar="FILE",
    help="File with the sending direction's key and 8-byte implicit IV; - for stdin.",
)
@click.option(
    "--decrypt-key",
    metavar="FILE",
    help="File with the receiving direction's key and 8-byte implicit IV; - for stdin.",
)
@dry_run_option
@show_keys_option
@pass_state
def add(  # noqa: PLR0917 - one parameter per click option
    state: CliState,
    iface: str,
    peer_id: int,
    cipher: Cipher,
    key_id: int,
    slot: KeySlot,
    encrypt_key: str | None,
    decrypt_key: str | None,
    dry_run: bool,
    show_keys: bool,
) -> None:
    """Install a key pair for a peer into a key slot.

    Each key file holds one direction: the cipher's key followed by the 8-byte
    implicit IV (AES-128-GCM 24 bytes, AES-192-GCM 32, AES-256-GCM and
    CHACHA20-POLY1305 40), as raw bytes, hex or base64 ("ovpnctl genkey"
    writes them). Files readable by group or others are refused. At most one
    of the two can be - (standard input). The other side of the tunnel uses
    the same two files the other way round.

    FreeBSD: OVPN_NEW_KEY. Linux: OVPN_CMD_KEY_NEW. The slot's old key is
    replaced. Traffic is sent with the primary key only.

    \b
    Examples:
      ovpnctl key add ovpn0 1 --cipher AES-256-GCM --key-id 0 \\
          --encrypt-key a-to-b.key --decrypt-key b-to-a.key
      gpg -d a-to-b.key.gpg | ovpnctl key add ovpn0 1 --cipher AES-256-GCM \\
          --key-id 1 --slot secondary --encrypt-key - --decrypt-key b-to-a.key
    """
    encrypt_path, decrypt_path = _key_paths(cipher, encrypt_key, decrypt_key)
    encrypt: KeyDirection | None = None
    decrypt: KeyDirection | None = None
    try:
        encrypt = read_direction(encrypt_path, cipher)
        decrypt = read_direction(decrypt_path, cipher)
        config = KeyConfig(peer_id, key_id, slot, encrypt, decrypt)
        with state.change(dry_run=dry_run, show_keys=show_keys) as backend:
            backend.new_key(iface, config)
    finally:
        for direction in (encrypt, decrypt):
            if direction is not None:
                direction.wipe()


def _key_paths(cipher: Cipher, encrypt: str | None, decrypt: str | None) -> tuple[str, str]:
    if cipher is Cipher.NONE:
        if encrypt is not None or decrypt is not None:
            raise UsageError("cipher none takes no key files; drop --encrypt-key/--decrypt-key")
        return STDIN_NAME, STDIN_NAME  # never read for cipher none
    for option, path in (("--encrypt-key", encrypt), ("--decrypt-key", decrypt)):
        if path is None:
            raise UsageError(f"{option} FILE is required with cipher {cipher.value}")
        refuse_key_on_argv(option, path)
    assert encrypt is not None and decrypt is not None
    if encrypt == STDIN_NAME and decrypt == STDIN_NAME:
        raise UsageError("only one of --encrypt-key and --decrypt-key can read standard input (-)")
    return encrypt, decrypt


def refuse_key_on_argv(option: str, value: str) -> None:
    """Refuse a FILE argument that is not a file but has the shape of key material."""
    if value == STDIN_NAME or os.path.lexists(value):
        return
    if looks_like_key_material(value):
        raise UsageError(
            f"{option} takes a file name, but its argument looks like key material; keys "
            "are never read from the command line (ps and shell history show it): put the "
            "key in a mode 0600 file or pass - and pipe it in, and consider it leaked"
        )


def looks_like_key_material(text: str) -> bool:
    """Hex or base64 of exactly a key, or of a key followed by the implicit IV."""
    lengths: set[int] = set()
    for cipher in Cipher:
        if cipher is not Cipher.NONE:
            lengths.update((cipher.key_length, cipher.key_length + IMPLICIT_IV_LEN))
    stripped = text.strip()
    for length in lengths:
        if len(stripped) == 2 * length and _HEX.fullmatch(stripped):
            return True
        if len(stripped) == 4 * ((length + 2) // 3) and _BASE64.fullmatch(stripped):
            return True
    return False


@key.command("swap")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@dry_run_option
@pass_state
def swap(state: CliState, iface: str, peer_id: int, dry_run: bool) -> None:
    """Swap the primary and secondary key slots of a peer (key rollover).

    After a new key was installed in the secondary slot and the other side
    is ready, this makes it the sending key. FreeBSD: OVPN_SWAP_KEYS (fails
    with ENOLINK when the secondary slot is empty). Linux: OVPN_CMD_KEY_SWAP
    (swaps even with an empty secondary slot, which stops sending).

    \b
    Example:
      ovpnctl key swap ovpn0 1
    """
    with state.change(dry_run=dry_run) as backend:
        backend.swap_keys(iface, peer_id)


@key.command("del")
@click.argument("iface", type=IFACE)
@click.argument("peer_id", type=PEER_ID)
@click.option("--slot", required=True, type=SLOT, help="The slot to empty.")
@dry_run_option
@pass_state
def delete(state: CliState, iface: str, peer_id: int, slot: KeySlot, dry_run: bool) -> None:
    """Delete the key in one slot of a peer (after a rollover: the secondary).

    FreeBSD: OVPN_DEL_KEY. Linux: OVPN_CMD_KEY_DEL. Deleting an empty slot
    succeeds. Without a primary key nothing is sent to the peer.

    \b
    Example:
      ovpnctl key del ovpn0 1 --slot secondary
    """
    with state.change(dry_run=dry_run) as backend:
        backend.del_key(iface, peer_id, slot)
