"""`ovpnctl genkey`: fresh random key material for one direction of a tunnel."""

from __future__ import annotations

import base64
import sys

import click

from ovpnctl.cli.common import pass_state
from ovpnctl.cli.params import CIPHER
from ovpnctl.cli.state import CliState
from ovpnctl.errors import UsageError
from ovpnctl.keyfile import STDIN_NAME, generate_material, write_material
from ovpnctl.keys import Cipher, wipe

ENCODINGS = ("base64", "hex", "raw")


@click.command("genkey")
@click.option("--cipher", required=True, type=CIPHER, help="Cipher the key is for.")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default=STDIN_NAME,
    show_default=True,
    help="Create FILE with mode 0600 (an existing file is never overwritten); - for stdout.",
)
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    default="base64",
    show_default=True,
    help="How the bytes are written; 'key add' reads all three.",
)
@pass_state
def genkey(state: CliState, cipher: Cipher, output: str, encoding: str) -> None:
    """Generate random key material for one direction: key followed by 8-byte IV.

    Touches no kernel. A tunnel needs two of these, one per direction; each
    side installs them with "ovpnctl key add", swapping --encrypt-key and
    --decrypt-key. With --json and stdout, the material is printed as
    {"cipher", "encoding", "material"}; with a file, only its description.

    \b
    Examples:
      ovpnctl genkey --cipher AES-256-GCM -o a-to-b.key
      ovpnctl genkey --cipher CHACHA20-POLY1305 --encoding hex > b-to-a.key
    """
    to_stdout = output == STDIN_NAME
    if to_stdout and encoding == "raw" and (state.json or sys.stdout.isatty()):
        raise UsageError("raw key bytes cannot go to a terminal or into JSON; use -o FILE")
    material = generate_material(cipher)
    try:
        if to_stdout and state.json:
            state.output.record(
                {
                    "cipher": cipher.value,
                    "encoding": encoding,
                    "material": _encode(material, encoding),
                }
            )
            return
        write_material(output, material, encoding=encoding)
    finally:
        wipe(material)
    if not to_stdout and state.json:
        state.output.record(
            {"cipher": cipher.value, "encoding": encoding, "file": output, "bytes": len(material)}
        )


def _encode(material: bytearray, encoding: str) -> str:
    if encoding == "hex":
        return bytes(material).hex()
    return base64.b64encode(bytes(material)).decode("ascii")
