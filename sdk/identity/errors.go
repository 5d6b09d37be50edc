package identity

import "errors"

// Errors FromCertificate and New wrap; test for them with errors.Is.
var (
	// ErrNoSPIFFEID means the certificate has no spiffe:// URI SAN.
	ErrNoSPIFFEID = errors.New("certificate carries no SPIFFE ID")
	// ErrSeveralSPIFFEIDs means the certificate has more than one
	// spiffe:// URI SAN, so whom it names is ambiguous.
	ErrSeveralSPIFFEIDs = errors.New("certificate carries several SPIFFE IDs")
	// ErrUnknownKind means the SPIFFE ID's path is not /KIND/NAME with a
	// kind keyway knows.
	ErrUnknownKind = errors.New("unknown identity kind")
	// ErrMalformedExtension means the keyway identity extension cannot be
	// decoded.
	ErrMalformedExtension = errors.New("malformed keyway identity extension")
)
