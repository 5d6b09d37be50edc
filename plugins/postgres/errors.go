package postgres

import (
	"io"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// SQLSTATE codes keyway reports.
const (
	stateInvalidAuthorization = "28000" // invalid_authorization_specification
	stateInvalidCatalog       = "3D000" // invalid_catalog_name
	stateUnableToConnect      = "08001" // sqlclient_unable_to_establish_sqlconnection
	stateConnectionFailure    = "08006" // connection_failure
	stateRejected             = "08004" // sqlserver_rejected_establishment_of_sqlconnection
	stateProtocolViolation    = "08P01" // protocol_violation
	stateFeatureNotSupported  = "0A000" // feature_not_supported
	stateProgramLimitExceeded = "54000" // program_limit_exceeded
	stateTooManyConnections   = "53300" // too_many_connections
	stateInternal             = "XX000" // internal_error
)

// fatal sends a FATAL ErrorResponse; the caller then closes the session.
func fatal(w io.Writer, code, msg, hint string) {
	resp := &pgproto3.ErrorResponse{Severity: "FATAL", Code: code, Message: msg, Hint: hint}
	b, err := resp.Encode(nil)
	if err != nil {
		return
	}
	_, _ = w.Write(b)
}

// refusalState maps the host's refusal kinds to SQLSTATE codes.
func refusalState(kind string) string {
	switch kind {
	case sdk.RefusalDenied, sdk.RefusalPlaintext:
		return stateInvalidAuthorization
	case sdk.RefusalNotFound:
		return stateInvalidCatalog
	case sdk.RefusalUnavailable:
		return stateUnableToConnect
	case sdk.RefusalTooManySessions:
		return stateTooManyConnections
	}
	return stateInternal
}

// plaintextRefusal is what a client that did not ask for TLS is told.
const plaintextRefusal = "keyway accepts PostgreSQL connections only over TLS: connect with sslmode=verify-full and the certificate from keyway db login, or through keyway proxy db"

// refusalMessage is the sentence for a refusal: the host's, or this
// plugin's for a client that did not ask for TLS.
func refusalMessage(r *sdk.Refusal) string {
	if r.Kind == sdk.RefusalPlaintext {
		return plaintextRefusal
	}
	return r.Message
}
