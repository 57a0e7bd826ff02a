"""U.are.U 4000B/4500 frame bytes, worked by hand from libfprint's uru4000 driver (the public description).

- The scrambler: a 32-bit shift register (taps 0x9248144D, parity into bit 31); each data byte is masked by key
  bits 4, 8, 11, 14, 18, 21, 24, 29 (bit 0 first); the host decodes byte i from byte i + 1 of what was sent.
- The 64-byte frame header: line count (little-endian) at 4, key number at 6, (flags, lines) pairs from 16.
Both the backend (drivers/backends/_finger_uareu4000_wire.py) and the simulator (drivers/sim/finger_uareu4000.py)
are held to these bytes.
"""

from __future__ import annotations

KEY = 0x1D2C3B4A
PLAIN = b"ABCDEFGHIJKLMNOP"                                       # 16 bytes of one encrypted block
SENT = bytes.fromhex("00375406b60eed77e59c5b956e05a056")          # what the sensor puts on the wire for them
KEY_AFTER = 0x54B51D2C                                             # the key after 16 steps (one per byte)

HEADER_LINES, HEADER_KEY_NUMBER = 48, 7
HEADER_BLOCKS = [[0x02, 20], [0x01, 2], [0x00, 28]]                # encrypted, not present, plain
HEADER = bytes.fromhex(
    "00000000" "3000" "07" "000000000000000000"                    # line count 48 (LE), key number 7
    "0214" "0102" "001c" + "00" * 24                               # blocks: (02, 20) (01, 2) (00, 28), then none
    + "00" * 18
)
