"""R30x / R503 packets as printed in the ZhianTec/Grow datasheets (default address FFFFFFFF, password 0).

Layout: EF 01 | address (4) | packet id | length (2) = payload + 2 | payload | checksum (2) = sum from the
packet id through the payload. Both the driver and the simulator are held to these bytes.
"""

from __future__ import annotations

H = bytes.fromhex

COMMANDS: dict[str, bytes] = {           # host → module
    "GenImg": H("EF01FFFFFFFF010003010005"),
    "UpImage": H("EF01FFFFFFFF0100030A000E"),
    "ReadSysPara": H("EF01FFFFFFFF0100030F0013"),
    "VfyPwd(0)": H("EF01FFFFFFFF0100071300000000001B"),
    "ReadProdInfo": H("EF01FFFFFFFF0100033C0040"),
}
ACKS: dict[str, bytes] = {               # module → host: acknowledge with a confirmation code
    "ok": H("EF01FFFFFFFF07000300000A"),
    "no finger": H("EF01FFFFFFFF07000302000C"),
    "wrong password": H("EF01FFFFFFFF07000313001D"),
}
