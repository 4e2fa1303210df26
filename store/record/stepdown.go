package record

import (
	"time"
)

// StepDown asks the leader of one epoch to resign gracefully. The
// operator writes it bound to a short lease, so a request nobody served
// disappears; the leader deletes it once served.
type StepDown struct {
	// Epoch is the leadership to end: a request for an older epoch is
	// ignored, so it can never end a later leadership.
	Epoch       int64     `json:"epoch"`
	RequestedAt time.Time `json:"requested_at"`
	// By says who asked (user@host), for the logs.
	By string `json:"by,omitempty"`
}
