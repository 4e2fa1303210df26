package publisher

import (
	"encoding/base64"
	"time"

	"github.com/obcluster/obcluster/internal/clock"
)

// The doubles of tor, the records and the leadership are in publisher/publishertest.

var b64 = base64.RawStdEncoding

// nowClock is the harness's clock: Now reads the time the test moves step by step; timers and
// tickers are real (Run's one-second tick only makes it look again).
type nowClock struct {
	clock.Real
	now func() time.Time
}

func (c nowClock) Now() time.Time { return c.now() }
