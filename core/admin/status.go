package admin

import (
	"context"
	"errors"
	"io/fs"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/auth"
)

// Kinds of the admin API's own errors, beside auth's.
var (
	// errUnavailable marks the failure of a part of the process that
	// does not answer now, such as the CA plugin.
	errUnavailable = errors.New("unavailable")
	// errNoAuditLog refuses a search in a process that keeps no audit
	// log.
	errNoAuditLog = errors.New("this keyway process keeps no audit log")
)

// statusErrors is the interceptor that turns every error of the admin
// services into a status (statusError).
func statusErrors(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, statusError(err)
	}
	return resp, nil
}

// statusError turns an error of the admin services into a gRPC status
// whose code says what kind of failure it is and whose message is the
// error's text. A status the services made themselves is kept.
func statusError(err error) error {
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

// codeOf is the status code of an error's kind; Unknown for an error of
// no known kind, such as a failure of the state backend.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, ErrNoAuthRole), errors.Is(err, errNoAuditLog):
		return codes.FailedPrecondition
	case errors.Is(err, errUnavailable):
		return codes.Unavailable
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return codes.NotFound
	case errors.Is(err, auth.ErrExists):
		return codes.AlreadyExists
	case errors.Is(err, auth.ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}
