"""Feature detection from the live policy, and cipher ids."""

from __future__ import annotations

import pytest

from ovpnctl.errors import ProtocolError
from ovpnctl.keys import Cipher
from ovpnctl.linux.genl import CIPHER_ALG, Cmd, Features, cipher_from_alg, features_from_policy


def row(policy: int, attr: int, nested: int | None = None, maxtype: int | None = None) -> dict:
    return {"policy": policy, "attr": attr, "nested_policy": nested, "maxtype": maxtype}


# The shape CTRL_CMD_GETPOLICY returned on 6.17.13 (scratch run in the guest): per-op
# policies; PEER_NEW's peer nest (policy 1) stops at 14, PEER_GET's (policy 5) at 23.
POLICY_6_17 = [
    row(0, 1), row(0, 2, nested=1, maxtype=14),
    *[row(1, a) for a in (1, 3, 4, 6, 9, 11, 13, 14)],
    row(4, 1), row(4, 2, nested=5, maxtype=23),
    *[row(5, a) for a in (1, 3, 4, 6, 7, 9, 11, 13, 14, 15, *range(16, 24))],
    row(9, 1), row(9, 3, nested=10, maxtype=6),
    *[row(10, a) for a in range(1, 7)],
]  # fmt: skip
OPS_6_17 = frozenset({1, 2, 3, 4, 6, 7, 8, 10})


def test_6_17_has_no_tx_id_nor_float_notifications() -> None:
    features = features_from_policy(POLICY_6_17, OPS_6_17)
    assert features == Features(peer_attr_max=23, commands=OPS_6_17)
    assert not features.tx_id
    assert not features.float_notifications


def test_a_peer_nest_reaching_24_means_tx_id_and_float() -> None:
    newer = [*POLICY_6_17, row(1, 24)]
    features = features_from_policy(newer, OPS_6_17)
    assert features.peer_attr_max == 24
    assert features.tx_id
    assert features.float_notifications


def test_keyconf_nests_do_not_count_as_peer_nests() -> None:
    # KEYCONF (attr 3) reaches policy 10, whose ids stop at 6: must not affect the peer max.
    features = features_from_policy([row(9, 3, nested=10, maxtype=30), row(10, 30)], OPS_6_17)
    assert features.peer_attr_max == 0


def test_an_op_list_naming_the_float_command_settles_it() -> None:
    features = features_from_policy(POLICY_6_17, OPS_6_17 | {Cmd.PEER_FLOAT_NTF})
    assert features.float_notifications


@pytest.mark.parametrize(
    ("alg", "key_length", "cipher"),
    [
        (1, None, Cipher.AES_256_GCM),
        (1, 16, Cipher.AES_128_GCM),
        (1, 24, Cipher.AES_192_GCM),
        (2, None, Cipher.CHACHA20_POLY1305),
        (0, None, Cipher.NONE),
    ],
)
def test_cipher_from_alg(alg: int, key_length: int | None, cipher: Cipher) -> None:
    assert cipher_from_alg(alg, key_length) is cipher
    assert CIPHER_ALG[cipher] == alg


def test_unknown_cipher_alg() -> None:
    with pytest.raises(ProtocolError, match="unknown cipher algorithm 3"):
        cipher_from_alg(3)
