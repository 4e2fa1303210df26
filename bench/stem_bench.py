#!/usr/bin/python3
"""Times the Python OnionBalance's descriptor work with stem, for bench/run.

encode: what the Python tool does per master descriptor with 20 intro points: a fresh descriptor
signing key, every intro point's auth-key and enc-key certificates re-issued with it, then
HiddenServiceDescriptorV3.create (blinded signature, both encryption layers) and str().
decode: HiddenServiceDescriptorV3.from_str on one such descriptor, then .decrypt(address), as the
Python tool reads a backend descriptor.

Prints one JSON object: {"encode_ns": ..., "decode_ns": ..., "encode_runs": N, "decode_runs": N}.
Run with /usr/bin/python3 (Debian's, which has stem).
"""

import argparse
import hashlib
import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from stem.descriptor.certificate import Ed25519CertificateV1, Ed25519Extension, ExtensionType
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3, InnerLayer, IntroductionPointV3
import stem.util

INTROS = 20


def reissue(cert, signing_key):
    """The same certified key, type and expiry, signed by signing_key with its key in the extension."""
    ext = Ed25519Extension(ExtensionType.HAS_SIGNING_KEY, None, stem.util._pubkey_bytes(signing_key))
    return Ed25519CertificateV1(cert.type, cert.expiration, cert.key_type, cert.key, [ext],
                                signing_key=signing_key)


def build(identity, blinding_param, intro_points):
    signing_key = Ed25519PrivateKey.generate()
    ips = [ip._replace(auth_key_cert=reissue(ip.auth_key_cert, signing_key),
                       enc_key_cert=reissue(ip.enc_key_cert, signing_key)) for ip in intro_points]
    desc = HiddenServiceDescriptorV3.create(
        blinding_nonce=blinding_param,
        identity_key=identity,
        signing_key=signing_key,
        inner_layer=InnerLayer.create(introduction_points=ips),
        revision_counter=1,
    )
    return str(desc)


def timed(fn, seconds):
    fn()  # warm up
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and runs >= 3:
            return elapsed * 1e9 / runs, runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seconds', type=float, default=3.0, help='time spent on each measure')
    args = ap.parse_args()

    identity = Ed25519PrivateKey.generate()
    address = HiddenServiceDescriptorV3.address_from_identity_key(identity)
    blinding_param = hashlib.sha3_256(b'obcluster bench blinding parameter').digest()
    seed_signer = Ed25519PrivateKey.generate()
    intro_points = [IntroductionPointV3.create_for_address('127.0.0.%d' % (i + 1), 9000 + i,
                                                           signing_key=seed_signer)
                    for i in range(INTROS)]

    text = build(identity, blinding_param, intro_points)

    def decode():
        desc = HiddenServiceDescriptorV3.from_str(text)
        inner = desc.decrypt(address)
        if len(inner.introduction_points) != INTROS:
            raise SystemExit('decoded %d intro points, want %d' % (len(inner.introduction_points), INTROS))

    enc_ns, enc_runs = timed(lambda: build(identity, blinding_param, intro_points), args.seconds)
    dec_ns, dec_runs = timed(decode, args.seconds)
    print(json.dumps({'encode_ns': enc_ns, 'decode_ns': dec_ns, 'encode_runs': enc_runs, 'decode_runs': dec_runs}))


if __name__ == '__main__':
    main()
