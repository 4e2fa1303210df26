package torctl

import (
	"errors"
	"fmt"
)

var (
	// ErrNotConnected is returned by commands while no control connection is up.
	ErrNotConnected = errors.New("torctl: not connected to tor")
	// ErrConnectionLost is wrapped when the connection broke while a command was outstanding.
	ErrConnectionLost = errors.New("torctl: control connection lost")
	// ErrUnknownServer is wrapped by ReplyError when tor answers 552 to HSFETCH or HSPOST: a SERVER=
	// fingerprint is not in tor's node list.
	ErrUnknownServer = errors.New("torctl: HSDir not known to tor")
	// ErrInvalidDescriptor is wrapped by ReplyError when tor answers 554 to HSPOST: the outer layer,
	// the signing-key certificate or the signature did not check.
	ErrInvalidDescriptor = errors.New("torctl: tor rejected the descriptor")
	// ErrInvalidArgument is returned before anything is sent when an address, fingerprint, key or
	// signal name is malformed.
	ErrInvalidArgument = errors.New("torctl: invalid argument")

	// ErrSocksNotListening is SocksForProbes' answer when tor is configured with a SocksPort fit for
	// probes but has no listener open for it: its network is disabled (DisableNetwork 1; tor then
	// closes its listeners) or it could not bind the port.
	ErrSocksNotListening = errors.New("torctl: tor has a SocksPort for probes configured but not listening")
)

// ReplyError is a non-2xx reply from tor to a command.
type ReplyError struct {
	// Command is the command verb, e.g. "HSPOST".
	Command string
	// Code is the three-digit status code, e.g. 552.
	Code int
	// Message is tor's text after the code.
	Message string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("torctl: %s: tor replied %d %s", e.Command, e.Code, e.Message)
}

// Unwrap lets errors.Is match ErrUnknownServer and ErrInvalidDescriptor for the descriptor commands.
func (e *ReplyError) Unwrap() error {
	if e.Command != "HSPOST" && e.Command != "HSFETCH" {
		return nil
	}
	switch e.Code {
	case 552:
		return ErrUnknownServer
	case 554:
		return ErrInvalidDescriptor
	}
	return nil
}
