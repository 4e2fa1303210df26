package torctl

import (
	"strings"
)

// Event is one notification from the client: a parsed tor event or a connection state change.
// The concrete types are DescReceived, DescFailed, Uploaded, UploadFailed, ConsensusArrived,
// Reconnected and Disconnected.
type Event interface {
	isEvent()
}

// DescReceived is a descriptor fetched by HSFETCH (HS_DESC_CONTENT with a non-empty body).
type DescReceived struct {
	// Address is the 56-character onion address, without ".onion".
	Address string
	// HSDir is the 40-hex fingerprint of the directory that served it.
	HSDir string
	// Blinded is the blinded public key in unpadded base64, as tor names the descriptor.
	Blinded string
	// Descriptor is the document with LF line endings and a final "\n", as the HSDir signed it.
	Descriptor []byte
}

// DescFailed is a failed fetch (HS_DESC FAILED for a fetch).
type DescFailed struct {
	Address string
	// HSDir is the 40-hex fingerprint, or tor's text (e.g. "UNKNOWN") when it names no relay.
	HSDir   string
	Blinded string
	// Reason is tor's REASON= value: NOT_FOUND, BAD_DESC, QUERY_REJECTED, UNEXPECTED,
	// QUERY_NO_HSDIR, QUERY_RATE_LIMITED.
	Reason string
}

// Uploaded is a descriptor accepted by one HSDir after HSPOST (HS_DESC UPLOADED).
type Uploaded struct {
	Address string
	// HSDir is the 40-hex fingerprint of the directory.
	HSDir string
}

// UploadFailed is a descriptor upload one HSDir did not accept: HS_DESC FAILED with
// REASON=UPLOAD_REJECTED, or with auth type UNKNOWN. Tor 0.4.9 words a refusal like a failed fetch
// (auth NO_AUTH, the blinded key, then the reason), so the reason, which no fetch uses, is what tells
// it from one. Tor's other upload failure, REASON=UNEXPECTED (an HTTP status other than 200 or 400),
// shares its reason with fetches and arrives as DescFailed.
type UploadFailed struct {
	Address string
	HSDir   string
	// Blinded is the refused descriptor's blinded key in unpadded base64, as tor names it; "" when
	// tor's event does not name it.
	Blinded string
	// Reason is tor's REASON= value, usually UPLOAD_REJECTED.
	Reason string
}

// ConsensusArrived says tor has a new consensus: time to reload it and the microdescriptors.
// Tor may announce one consensus both ways, so consumers should coalesce.
type ConsensusArrived struct {
	// Source is "STATUS_CLIENT" (CONSENSUS_ARRIVED) or "NEWCONSENSUS".
	Source string
}

// Reconnected says both control connections are up and subscribed again. Anything in flight before
// is lost: reload the consensus and fetch again. It is also sent after the first connect, with
// Initial set.
type Reconnected struct {
	Initial bool
}

// Disconnected says the control connections went down; commands fail with ErrNotConnected until
// the next Reconnected.
type Disconnected struct {
	Err error
}

func (DescReceived) isEvent()     {}
func (DescFailed) isEvent()       {}
func (Uploaded) isEvent()         {}
func (UploadFailed) isEvent()     {}
func (ConsensusArrived) isEvent() {}
func (Reconnected) isEvent()      {}
func (Disconnected) isEvent()     {}

// subscribedEvents are the event names sent with SETEVENTS on the event connection.
var subscribedEvents = []string{"HS_DESC", "HS_DESC_CONTENT", "STATUS_CLIENT", "NEWCONSENSUS"}

// parseEvent turns the text of one asynchronous reply into an Event, or nil when the event is
// not one the client reports. text is the reply after "650" and its separator; for a multi-line
// event it is the first line, CRLF, then the decoded data block. Malformed input yields nil.
func parseEvent(text string) Event {
	head, body, _ := strings.Cut(text, "\r\n")
	fields := strings.Fields(head)
	if len(fields) == 0 {
		return nil
	}
	switch fields[0] {
	case "HS_DESC":
		return parseHSDesc(fields[1:])
	case "HS_DESC_CONTENT":
		return parseHSDescContent(fields[1:], body)
	case "STATUS_CLIENT":
		// STATUS_CLIENT <severity> <action> [args]
		if len(fields) >= 3 && fields[2] == "CONSENSUS_ARRIVED" {
			return ConsensusArrived{Source: "STATUS_CLIENT"}
		}
	case "NEWCONSENSUS":
		return ConsensusArrived{Source: "NEWCONSENSUS"}
	}
	return nil
}

// reasonUploadRejected is tor's HS_DESC FAILED reason for an HSDir that answered an upload with HTTP
// 400 (e.g. a revision counter not above the one it holds). Tor uses it for uploads only.
const reasonUploadRejected = "UPLOAD_REJECTED"

// parseHSDesc handles "HS_DESC <action> <addr> <auth> <hsdir> [<descid>] [KEY=VAL...]".
func parseHSDesc(f []string) Event {
	if len(f) < 4 {
		return nil
	}
	action, addr, auth, hsdir := f[0], f[1], f[2], hsdirFingerprint(f[3])
	var blinded, reason string
	for i, a := range f[4:] {
		key, val, ok := strings.Cut(a, "=")
		switch {
		case ok && key == "REASON":
			reason = val
		case !ok && i == 0:
			blinded = a
		}
	}
	upload := auth == "UNKNOWN" || reason == reasonUploadRejected
	switch {
	case action == "UPLOADED":
		return Uploaded{Address: addr, HSDir: hsdir}
	case action == "FAILED" && upload:
		return UploadFailed{Address: addr, HSDir: hsdir, Blinded: blinded, Reason: reason}
	case action == "FAILED":
		return DescFailed{Address: addr, HSDir: hsdir, Blinded: blinded, Reason: reason}
	}
	return nil
}

// parseHSDescContent handles "HS_DESC_CONTENT <addr> <blinded> <hsdir>" plus the descriptor.
// An empty body goes with a failed fetch, already reported by HS_DESC FAILED.
func parseHSDescContent(f []string, body string) Event {
	if len(f) < 3 || strings.TrimSpace(body) == "" {
		return nil
	}
	desc := strings.ReplaceAll(body, "\r\n", "\n")
	if !strings.HasSuffix(desc, "\n") {
		// bine's reader trims the final newline the HSDir signed over.
		desc += "\n"
	}
	return DescReceived{Address: f[0], Blinded: f[1], HSDir: hsdirFingerprint(f[2]), Descriptor: []byte(desc)}
}

// hsdirFingerprint reduces tor's "$FP~nick" (or "$FP=nick", "$FP") to the 40 upper-case hex
// digits; anything else is returned unchanged.
func hsdirFingerprint(s string) string {
	if !strings.HasPrefix(s, "$") {
		return s
	}
	fp, err := normalizeFingerprint(s)
	if err != nil {
		return s
	}
	return fp
}
