"""Decrypt a v3 onion-service descriptor with restricted discovery using stem.

Usage: stem_decode_auth.py DESCRIPTOR_FILE ONION_ADDRESS [BASE32_X25519_CLIENT_SECRET]

stem 1.8 parses and decrypts both layers but has no client authorization: this
script derives the descriptor cookie from the client's x25519 secret key
(rend-spec-v3 section 2.5.1.2: X25519, SHAKE-256, AES-256-CTR, with the
cryptography module stem uses) and gives stem the second layer's secret
(blinded key | cookie). It prints a JSON summary, and exits 4 with the reason
on stderr when the inner layer does not decrypt (no key, or a key that is not
authorized). Exits 3 when stem is missing. Used by stem_test.go and the e2e
tests to check our descriptors with an independent implementation.
"""
import base64
import hashlib
import json
import sys

try:
    from stem.descriptor.hidden_service import HiddenServiceDescriptorV3, OuterLayer, InnerLayer
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError:
    sys.exit(3)


def b64(s):
    return base64.b64decode(s + '=' * (-len(s) % 4))


def cookie_for(outer, subcredential, secret_b32):
    secret = base64.b32decode(secret_b32.upper() + '=' * (-len(secret_b32) % 8))
    client = X25519PrivateKey.from_private_bytes(secret)
    seed = client.exchange(X25519PublicKey.from_public_bytes(b64(outer.ephemeral_key)))
    keys = hashlib.shake_256(subcredential + seed).digest(40)
    client_id, cookie_key = keys[:8], keys[8:]
    for c in outer.clients.values():
        if b64(c.id) == client_id:
            dec = Cipher(algorithms.AES(cookie_key), modes.CTR(b64(c.iv))).decryptor()
            return dec.update(b64(c.cookie)) + dec.finalize()
    return None


def main():
    path, address = sys.argv[1], sys.argv[2]
    secret = sys.argv[3] if len(sys.argv) > 3 else ''
    with open(path, 'rb') as f:
        raw = f.read()
    desc = HiddenServiceDescriptorV3(raw, validate=True)
    blinded = desc.signing_cert.signing_key()
    identity = HiddenServiceDescriptorV3.identity_key_from_address(address.replace('.onion', ''))
    subcredential = HiddenServiceDescriptorV3._subcredential(identity, blinded)
    outer = OuterLayer._decrypt(desc.superencrypted, desc.revision_counter, subcredential, blinded)
    secret_data = blinded
    if secret:
        cookie = cookie_for(outer, subcredential, secret)
        if cookie is None:
            print('no auth-client line for this client key', file=sys.stderr)
            sys.exit(4)
        secret_data = blinded + cookie
    try:
        inner = InnerLayer._decrypt(outer, desc.revision_counter, subcredential, secret_data)
    except ValueError as exc:
        print('inner layer does not decrypt: %s' % exc, file=sys.stderr)
        sys.exit(4)
    print(json.dumps({
        'revision_counter': desc.revision_counter,
        'auth_clients': len(outer.clients),
        'intro_points': len(inner.introduction_points),
    }))


if __name__ == '__main__':
    main()
