package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"

	"github.com/keyway-dev/keyway/sdk"
)

// Client talks to a running keyway's admin socket. It implements
// authority.CA by forwarding to the running CA plugin.
type Client struct {
	hc *http.Client
}

// NewRemoteClient returns a client whose requests travel by rt: the
// cluster API's Admin service, for a logged-in editor.
func NewRemoteClient(rt http.RoundTripper) *Client {
	return &Client{hc: &http.Client{Transport: rt}}
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
func (c *Client) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	var out sdk.AuthorityState
	return out, c.do(ctx, http.MethodPost, "/v1/ca/rotate", req, &out)
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
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
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
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// AddUser creates a user and returns the invite.
func (c *Client) AddUser(ctx context.Context, req UserRequest) (UserInvite, error) {
	var out UserInvite
	return out, c.do(ctx, http.MethodPost, "/v1/users", req, &out)
}

// Users lists the users.
func (c *Client) Users(ctx context.Context) ([]auth.User, error) {
	var out []auth.User
	return out, c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
}

// UpdateUser changes a user's roles and traits.
func (c *Client) UpdateUser(ctx context.Context, req UserRequest) (auth.User, error) {
	var out auth.User
	return out, c.do(ctx, http.MethodPatch, "/v1/users/"+url.PathEscape(req.Name), req, &out)
}

// RemoveUser deletes a user.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(name), nil, nil)
}

// AddToken creates a join token.
func (c *Client) AddToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	var out TokenResponse
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
}

// Tokens lists unused join tokens.
func (c *Client) Tokens(ctx context.Context) ([]auth.Token, error) {
	var out []auth.Token
	return out, c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
}

// RemoveToken deletes a join token.
func (c *Client) RemoveToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// PutRole creates or replaces a role.
func (c *Client) PutRole(ctx context.Context, r access.Role) error {
	return c.do(ctx, http.MethodPut, "/v1/roles/"+url.PathEscape(r.Name), r, nil)
}

// Roles lists the roles.
func (c *Client) Roles(ctx context.Context) ([]access.Role, error) {
	var out []access.Role
	return out, c.do(ctx, http.MethodGet, "/v1/roles", nil, &out)
}

// RemoveRole deletes a role.
func (c *Client) RemoveRole(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/roles/"+url.PathEscape(name), nil, nil)
}

// RemoveAgent frees a joined agent's host name.
func (c *Client) RemoveAgent(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/agents/"+url.PathEscape(name), nil, nil)
}

// PutDatabase creates or replaces a db resource.
func (c *Client) PutDatabase(ctx context.Context, db config.Database) error {
	return c.do(ctx, http.MethodPut, "/v1/databases/"+url.PathEscape(db.Name), db, nil)
}

// Databases lists the db resources.
func (c *Client) Databases(ctx context.Context) ([]config.Database, error) {
	var out []config.Database
	return out, c.do(ctx, http.MethodGet, "/v1/databases", nil, &out)
}

// RemoveDatabase deletes a db resource.
func (c *Client) RemoveDatabase(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/databases/"+url.PathEscape(name), nil, nil)
}
