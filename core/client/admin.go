package client

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// AdminTransport carries admin API requests over the cluster API's Admin
// service, as the logged-in user.
type AdminTransport struct {
	Conn *grpc.ClientConn
}

// RoundTrip sends one request and returns the admin API's answer.
func (t AdminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	resp, err := apiv1.NewAdminClient(t.Conn).Do(r.Context(), &apiv1.DoRequest{Method: r.Method, Path: r.URL.RequestURI(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("%s", status.Convert(err).Message())
	}
	return &http.Response{
		StatusCode: int(resp.GetStatus()), Status: http.StatusText(int(resp.GetStatus())),
		Body: io.NopCloser(bytes.NewReader(resp.GetBody())), Header: http.Header{"Content-Type": {"application/json"}},
		Request: r,
	}, nil
}
