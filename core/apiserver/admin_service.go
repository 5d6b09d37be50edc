package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/admin"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
)

// AdminService runs admin API requests for users whose roles allow the
// admin action: the same handlers as the auth host's admin socket.
type AdminService struct {
	apiv1.UnimplementedAdminServer
	S       *Server
	Handler http.Handler
}

// Do authorises the caller, then serves one admin API request.
func (a AdminService) Do(ctx context.Context, req *apiv1.DoRequest) (*apiv1.DoResponse, error) {
	id, err := a.S.caller(ctx)
	if err != nil {
		return nil, err
	}
	if !admin.RemotePath(req.GetPath()) {
		return nil, status.Errorf(codes.PermissionDenied, "%s is only served on the auth host's admin socket", req.GetPath())
	}
	d, err := a.S.Authorizer.AuthorizeAdmin(ctx, id)
	a.S.record(ctx, audit.Event{Event: "admin.request", Code: "TA001", User: id.Name, SpiffeID: id.ID.String(), Reason: req.GetMethod() + " " + req.GetPath()}, denial(d.Allow, d.Message, err))
	if err != nil {
		return nil, status.Error(codes.Unavailable, "keyway could not reach its authorisation plugin, so the request is denied: "+err.Error())
	}
	if !d.Allow {
		return nil, status.Error(codes.PermissionDenied, d.Message)
	}
	r, err := http.NewRequestWithContext(ctx, req.GetMethod(), "http://keyway"+req.GetPath(), bytes.NewReader(req.GetBody()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, r)
	return &apiv1.DoResponse{Status: int32(rec.Code), Body: rec.Body.Bytes()}, nil
}

// denial turns a decision into the error audited with it.
func denial(allow bool, msg string, err error) error {
	if err != nil {
		return err
	}
	if !allow {
		return status.Error(codes.PermissionDenied, msg)
	}
	return nil
}
