// Package hsv3 implements the cryptography and descriptor format of Tor v3
// onion services, as needed by a load balancer that reads its backends'
// descriptors and publishes its own (rend-spec-v3, cert-spec).
//
// The code is pure: no I/O apart from the key-file helpers, time passed in
// as a time.Time, randomness as an io.Reader.
//
// The pieces, one per file:
//
//   - keys.go, keyfile.go, expanded.go: the identity key (tor's
//     hs_ed25519_secret_key or PKCS#8 PEM), tor's key files, and Ed25519
//     signing from an expanded (scalar, prefix) secret key, which blinded
//     keys need because they have no seed.
//   - address.go: 56-character v3 onion addresses.
//   - blind.go: key blinding per time period, credential and subcredential.
//   - cert.go: tor's Ed25519 certificates (types 08, 09, 0B).
//   - encrypt.go, clientauth.go: the layer cipher (SHAKE-256 KDF,
//     AES-256-CTR, SHA3-256 MAC) and client authorization (restricted
//     discovery): cookies, auth-client lines and C tor's padding of them.
//   - authfile.go: tor's client-authorization key files (.auth,
//     .auth_private).
//   - netdoc.go: the line/object tokenizer shared by the three layers.
//   - outer.go, middle.go, inner.go, linkspec.go: the plaintext layer, the
//     first-layer plaintext (auth-client lines), and the second-layer
//     plaintext (intro points).
//   - decode.go, period.go: verify and decrypt a descriptor, given the
//     service's identity key and time period (Decode), its blinded key and
//     subcredential (DecodeBlinded), or only its address (DecodeForAddress,
//     which finds the time period from the signing certificate's expiry).
//     Intro points whose certificates do not validate are left out and
//     reported, as a tor client does.
//   - encode.go: build a descriptor in C tor's exact format from intro
//     points taken from other descriptors, re-certifying them with a fresh
//     descriptor signing key, for authorized clients only when asked.
//   - ope.go: revision counters by order-preserving encryption of time.
//
// Time periods, SRVs and the HSDir ring live in package hashring.
package hsv3
