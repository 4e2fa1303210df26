package store

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

// InstanceRecord is the last verified introduction-point set of one backend
// instance, written by the leader after fetching the backend's descriptor.
//
// etcd is not trusted for integrity: a leader loading a record re-verifies
// Descriptor (the backend's own signed document) for PeriodNum and
// PeriodLength against the backend's address and publishes only the intro
// points of that descriptor. IntroPoints and the other fields are a readable
// summary for status and operators, never trusted for publishing.
type InstanceRecord struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
	// IntroPoints are the backend's introduction points.
	IntroPoints []IntroPoint `json:"intro_points"`
	// ReceivedAt is when the descriptor was received.
	ReceivedAt time.Time `json:"received_at"`
	// DescriptorRevision is the revision counter of the fetched descriptor.
	DescriptorRevision uint64 `json:"descriptor_revision"`
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

	// Key is the etcd key the record was read from (set by Store.Instances,
	// not stored), for messages about it.
	Key string `json:"-"`
}

// Upload outcomes of one descriptor at one HSDir.
const (
	UploadPending  = "pending"
	UploadUploaded = "uploaded"
	UploadFailed   = "failed"
)

// UploadResult is the outcome of one descriptor upload to one HSDir.
type UploadResult struct {
	// Status is UploadPending, UploadUploaded or UploadFailed.
	Status string `json:"status"`
	// Reason is tor's failure reason, if any.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// PublishRecord is the state of the descriptor published under one blinded
// key: what a new leader needs so that it never publishes a revision counter
// the HSDirs would reject, and what `status` shows.
type PublishRecord struct {
	// PeriodNum and PeriodLength (minutes) identify the time period.
	PeriodNum    uint64 `json:"period_num"`
	PeriodLength uint64 `json:"period_length"`
	// BlindedKey is the blinded public key of the period.
	BlindedKey []byte `json:"blinded_key"`
	// RevisionCounter is the last revision counter published under
	// BlindedKey.
	RevisionCounter uint64 `json:"revision_counter"`
	// UploadedAt is when the last upload round started.
	UploadedAt time.Time `json:"uploaded_at"`
	// HSDirs maps HSDir fingerprints to the result of the last upload there.
	HSDirs map[string]UploadResult `json:"hsdirs"`
	// Epoch and Node identify the leadership that published.
	Epoch int64  `json:"epoch"`
	Node  string `json:"node,omitempty"`
	// IntroPoints maps each published introduction point (base64 of its
	// auth key) to the address of the backend it belongs to.
	IntroPoints map[string]string `json:"intro_points,omitempty"`
	// Backends maps each HSDir fingerprint to the addresses of the backends
	// in the descriptor uploaded there (distinct descriptors differ).
	Backends map[string][]string `json:"backends,omitempty"`
}

// Node roles, as reported in NodeRecord.Role.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
)

// NodeRecord is the heartbeat of one obhost. It is bound to a lease, so it
// disappears when the node stops refreshing it.
type NodeRecord struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// TorBootstrap is tor's bootstrap progress in percent.
	TorBootstrap int `json:"tor_bootstrap"`
	// TorState is a short summary of tor's state ("done", "starting", ...).
	TorState string `json:"tor_state,omitempty"`
	// Role is RoleLeader or RoleFollower.
	Role string `json:"role,omitempty"`
	// Epoch is the node's leadership epoch while it is leader.
	Epoch     int64     `json:"epoch,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`
}

// StepDownRequest asks the leader of one epoch to resign gracefully. The
// operator writes it bound to a short lease, so a request nobody served
// disappears; the leader deletes it once served.
type StepDownRequest struct {
	// Epoch is the leadership to end: a request for an older epoch is
	// ignored, so it can never end a later leadership.
	Epoch       int64     `json:"epoch"`
	RequestedAt time.Time `json:"requested_at"`
	// By says who asked (user@host), for the logs.
	By string `json:"by,omitempty"`
}
