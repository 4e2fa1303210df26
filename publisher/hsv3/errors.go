package hsv3

import "errors"

// Sentinel errors. Functions wrap them with details (the field, file or
// intro point at fault); test with errors.Is.
var (
	// ErrInvalidAddress means an onion address failed to decode or validate.
	ErrInvalidAddress = errors.New("invalid onion address")
	// ErrInvalidKey means key material could not be parsed or is unusable.
	ErrInvalidKey = errors.New("invalid key")
	// ErrNoSeed means the operation needs the 32-byte seed, but the key was
	// loaded from tor's expanded form, which does not hold one.
	ErrNoSeed = errors.New("key has no seed (loaded from tor's expanded format)")
	// ErrMalformed means a descriptor, layer or certificate is syntactically
	// invalid.
	ErrMalformed = errors.New("malformed")
	// ErrBadSignature means a certificate or descriptor signature did not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrCertExpired means a certificate's expiration time has passed.
	ErrCertExpired = errors.New("certificate expired")
	// ErrWrongService means the descriptor is not signed by a key blinded from
	// the expected identity for the expected time period.
	ErrWrongService = errors.New("descriptor does not belong to the service")
	// ErrDecrypt means a layer's MAC did not verify: wrong keys or corrupt data.
	ErrDecrypt = errors.New("decryption failed")
	// ErrNotAuthorized means the descriptor uses client authorization and the
	// given client key is absent from its auth-client list.
	ErrNotAuthorized = errors.New("client not authorized")
	// ErrTooManyIntroPoints means more than MaxIntroPoints intro points.
	ErrTooManyIntroPoints = errors.New("too many introduction points")
	// ErrTooLarge means an encoded descriptor is not smaller than the maximum size.
	ErrTooLarge = errors.New("descriptor too large")
)
