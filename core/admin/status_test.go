package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/auth"
)

// TestStatusError maps each kind of error to its code, keeping the
// error's text as the message, and keeps a status made by a service.
func TestStatusError(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		code codes.Code
		// msg is the message wanted; the error's text when empty.
		msg string
	}{
		{"no auth role", ErrNoAuthRole, codes.FailedPrecondition, ""},
		{"no audit log", errNoAuditLog, codes.FailedPrecondition, ""},
		{"CA down", auth.WithKind(errUnavailable, errors.New("the CA plugin is not running")), codes.Unavailable, ""},
		{"not found", fmt.Errorf("user bob: %w", auth.ErrUserNotFound), codes.NotFound, ""},
		{"no file", fmt.Errorf("no audit log at /x: %w", fs.ErrNotExist), codes.NotFound, ""},
		{"exists", fmt.Errorf("user alice: %w", auth.ErrUserExists), codes.AlreadyExists, ""},
		{"invalid", auth.WithKind(auth.ErrInvalid, errors.New("a bad name")), codes.InvalidArgument, ""},
		{"lock on a missing user", fmt.Errorf("%w: %w", auth.ErrBadLock, auth.ErrUserNotFound), codes.NotFound, ""},
		{"deadline", fmt.Errorf("reading: %w", context.DeadlineExceeded), codes.DeadlineExceeded, ""},
		{"canceled", context.Canceled, codes.Canceled, ""},
		{"backend", errors.New("state: disk full"), codes.Unknown, ""},
		{"status kept", status.Error(codes.Unimplemented, "not here"), codes.Unimplemented, "not here"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.msg
			if msg == "" {
				msg = tt.err.Error()
			}
			st := status.Convert(statusError(tt.err))
			if st.Code() != tt.code || st.Message() != msg {
				t.Fatalf("status %s %q, want %s %q", st.Code(), st.Message(), tt.code, msg)
			}
		})
	}
}
