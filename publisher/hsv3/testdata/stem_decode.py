"""Decode a v3 onion-service descriptor with stem and print a JSON summary.

Usage: stem_decode.py DESCRIPTOR_FILE ONION_ADDRESS

Used by stem_test.go to cross-check descriptors made by the Go encoder
against an independent implementation. Exits 3 when stem is missing.
"""
import binascii
import calendar
import json
import sys

try:
    from stem.descriptor.hidden_service import HiddenServiceDescriptorV3
except ImportError:
    sys.exit(3)


def main():
    path, address = sys.argv[1], sys.argv[2]
    with open(path, 'rb') as f:
        raw = f.read()
    desc = HiddenServiceDescriptorV3(raw, validate=True)
    inner = desc.decrypt(address)
    intros = []
    for ip in inner.introduction_points:
        intros.append({
            'link_specifiers': [binascii.hexlify(ls.pack()).decode() for ls in ip.link_specifiers],
            'onion_key': ip.onion_key_raw,
            'enc_key': ip.enc_key_raw,
            'auth_key_cert_expiry_hours': calendar.timegm(ip.auth_key_cert.expiration.utctimetuple()) // 3600,
            'legacy_key': ip.legacy_key_raw is not None,
        })
    print(json.dumps({
        'revision_counter': desc.revision_counter,
        'lifetime': desc.lifetime,
        'create2_formats': inner.formats,
        'intro_points': intros,
    }))


if __name__ == '__main__':
    main()
