package record

import (
	"time"
)

// IntroPoint is one introduction point of a backend as it must be fed back to
// the descriptor encoder. Byte fields are the raw values (JSON shows them in
// base64); the publisher converts them to and from its crypto types.
type IntroPoint struct {
	// LinkSpecifiers is the link-specifier block (NSPEC followed by the
	// specifiers) exactly as it appears, base64-decoded, in the descriptor.
	LinkSpecifiers []byte `json:"link_specifiers"`
	// OnionKey is the curve25519 ntor onion key.
	OnionKey []byte `json:"onion_key"`
	// AuthKey is the ed25519 key certified by the auth-key certificate.
	AuthKey []byte `json:"auth_key"`
	// AuthKeyExpires is the expiry of the backend's auth-key certificate.
	AuthKeyExpires time.Time `json:"auth_key_expires"`
	// EncKey is the curve25519 introduction encryption key.
	EncKey []byte `json:"enc_key"`
	// EncKeyCertKey is the ed25519 key certified by the enc-key
	// certificate (the ed25519 form of EncKey).
	EncKeyCertKey []byte `json:"enc_key_cert_key"`
	// EncKeyCertExpires is the expiry of the backend's enc-key certificate.
	EncKeyCertExpires time.Time `json:"enc_key_cert_expires"`
}

// Instance is the last verified introduction-point set of one backend
// instance, written by the leader after fetching the backend's descriptor.
//
// etcd is not trusted for integrity: a leader loading a record re-verifies
// Descriptor (the backend's own signed document) for PeriodNum and
// PeriodLength against the backend's address and publishes only the intro
// points of that descriptor. IntroPoints and the other fields are a readable
// summary for status and operators, never trusted for publishing.
type Instance struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
	// IntroPoints are the backend's introduction points.
	IntroPoints []IntroPoint `json:"intro_points"`
	// ReceivedAt is when the descriptor was received.
	ReceivedAt time.Time `json:"received_at"`
	// DescriptorRevision is the revision counter of the fetched descriptor.
	DescriptorRevision uint64 `json:"descriptor_revision"`
	// RevisionSince is when the leader last saw the backend upload a new revision (DescriptorRevision,
	// or one of its descriptor for the other time period): a live tor uploads one at least every two
	// hours, so a backend without one for longer is dead and its descriptor a stale copy. It lets a new
	// leader go on counting from there. Zero (omitted) in records written before it existed: a reader
	// takes ReceivedAt instead.
	RevisionSince time.Time `json:"revision_since,omitzero"`
	// HSDir is the fingerprint of the HSDir it was fetched from.
	HSDir string `json:"hsdir,omitempty"`
	// FlowControl is the value of the descriptor's flow-control line
	// ("1-2 31"), empty when the backend did not advertise it.
	FlowControl string `json:"flow_control,omitempty"`
	// Epoch and Node identify the leadership that wrote the record.
	Epoch int64  `json:"epoch"`
	Node  string `json:"node,omitempty"`
	// Descriptor is the backend's descriptor exactly as fetched (the outer
	// document, public data an HSDir serves to anyone), so that a new leader
	// can verify its signature again instead of trusting etcd.
	Descriptor string `json:"descriptor,omitempty"`
	// PeriodNum and PeriodLength (minutes) are the time period Descriptor
	// was verified for: its signing key is certified by the blinded key
	// derived from Address for that period.
	PeriodNum    uint64 `json:"period_num,omitempty"`
	PeriodLength uint64 `json:"period_length,omitempty"`

	// Key is the etcd key the record was read from (set by store.Store.Instances,
	// not stored), for messages about it.
	Key string `json:"-"`
}
