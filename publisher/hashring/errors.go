package hashring

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error that reports a malformed consensus
// or microdescriptor. Test for it with errors.Is.
var ErrMalformed = errors.New("malformed directory document")

// ParseError says where a directory document is malformed.
type ParseError struct {
	Doc     string // "consensus" or "microdescriptor"
	Line    int    // 1-based line number in the (normalised) input
	Keyword string // keyword of the offending line, or "" when a line is missing
	Err     error  // what is wrong
}

func (e *ParseError) Error() string {
	if e.Keyword == "" {
		return fmt.Sprintf("%s line %d: %v", e.Doc, e.Line, e.Err)
	}
	return fmt.Sprintf("%s line %d (%s): %v", e.Doc, e.Line, e.Keyword, e.Err)
}

// Unwrap returns both ErrMalformed and the underlying cause.
func (e *ParseError) Unwrap() []error { return []error{ErrMalformed, e.Err} }
