package apiserver

import (
	"context"
	"fmt"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
)

// Limits are the cluster API's rate limits per client address.
type Limits struct {
	// Login limits Login (with invites) and Join.
	Login *AddrLimiter
	// API limits every call.
	API *AddrLimiter
	// Refused, if set, counts a refused call by the name of its limit
	// ("login" or "api"), for metrics.
	Refused func(limit string)
}

// loginMethods are the calls Limits.Login limits, with the noun for the
// refusal.
var loginMethods = map[string]string{
	apiv1.Auth_Login_FullMethodName: "login",
	apiv1.Auth_Join_FullMethodName:  "join",
}

// UnaryLimits is a server option that applies s.Limits to unary calls.
func (s *Server) UnaryLimits() grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if err := s.limit(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return next(ctx, req)
	})
}

// StreamLimits is a server option that applies s.Limits to streams.
func (s *Server) StreamLimits() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		if err := s.limit(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return next(srv, ss)
	})
}

// limit takes a token for a call from the caller's address, from the
// API's bucket and, for logins and joins, the login bucket. A refusal is
// ResourceExhausted with a sentence saying when to try again, counted,
// and audited once per period of the limit and address.
func (s *Server) limit(ctx context.Context, method string) error {
	l := s.Limits
	if l == nil {
		return nil
	}
	var key string
	if p, ok := peer.FromContext(ctx); ok {
		key = clientKey(p.Addr)
	} else {
		key = clientKey(nil)
	}
	if l.API != nil {
		if d := l.API.Allow(key); !d.Allow {
			return s.refuse(ctx, "api", method, d, fmt.Sprintf("too many requests to the cluster API from %s", key), l.API.rate)
		}
	}
	if noun, ok := loginMethods[method]; ok && l.Login != nil {
		if d := l.Login.Allow(key); !d.Allow {
			return s.refuse(ctx, "login", method, d, fmt.Sprintf("too many %s attempts from %s", noun, key), l.Login.rate)
		}
	}
	return nil
}

func (s *Server) refuse(ctx context.Context, limit, method string, d Decision, what string, r Rate) error {
	secs := int(math.Ceil(d.RetryAfter.Seconds()))
	err := status.Errorf(codes.ResourceExhausted, "%s; try again in %d s", what, max(secs, 1))
	if s.Limits.Refused != nil {
		s.Limits.Refused(limit)
	}
	if d.Report {
		s.record(ctx, audit.Event{Event: audit.APIRateLimited, Code: "T1006W", Target: method,
			Reason: fmt.Sprintf("%s limit of %d per %s per address; further refusals within %s are not recorded", limit, r.Burst, r.Per, r.Per)}, err)
	}
	return err
}
