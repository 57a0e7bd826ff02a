"""The passport chip (ICAO Doc 9303 parts 10-11), in layers after JMRTD's structure.

`apdu` and `transport` carry bytes; `bac`, `pace` open access; `sm` wraps APDUs in secure messaging;
`tlv` and `lds` parse the logical data structure; `passive` checks the SOD and the signer chain;
`clone` runs chip or active authentication; `reader` drives one read; `checks` gives the lane its verdicts.
"""
