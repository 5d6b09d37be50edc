package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Client talks to a running keyway's admin socket. It implements
// authority.CA by forwarding to the running CA plugin.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Plugins lists the running process's plugins.
func (c *Client) Plugins(ctx context.Context) ([]Plugin, error) {
	var out []Plugin
	return out, c.do(ctx, http.MethodGet, "/v1/plugins", nil, &out)
}

// Ready returns nil once the process serves.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/ready", nil, nil)
}

// Authorities lists the CA's authorities.
func (c *Client) Authorities(ctx context.Context) ([]sdk.AuthorityState, error) {
	var out []sdk.AuthorityState
	return out, c.do(ctx, http.MethodGet, "/v1/ca/authorities", nil, &out)
}

// Sign signs through the running CA plugin.
func (c *Client) Sign(ctx context.Context, req sdk.SignRequest) (sdk.SignResponse, error) {
	var out sdk.SignResponse
	return out, c.do(ctx, http.MethodPost, "/v1/ca/sign", req, &out)
}

// Rotate rotates an authority of the running CA plugin.
func (c *Client) Rotate(ctx context.Context, a sdk.Authority, grace time.Duration) (sdk.AuthorityState, error) {
	var out sdk.AuthorityState
	return out, c.do(ctx, http.MethodPost, "/v1/ca/rotate", rotateRequest{Authority: a, Grace: grace}, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://keyway"+path, &body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.NewDecoder(resp.Body).Decode(&eb) == nil && eb.Error != "" {
			return errors.New(eb.Error)
		}
		return fmt.Errorf("admin socket answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
