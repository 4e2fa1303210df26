package record

import (
	"time"
)

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

// Publish is the state of the descriptor published under one blinded
// key: what a new leader needs so that it never publishes a revision counter
// the HSDirs would reject, and what `status` shows.
type Publish struct {
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
