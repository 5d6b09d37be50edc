package sdk

import (
	"context"
	"errors"
	"reflect"
	"testing"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Preambles as a PostgreSQL plugin declares them, for the tests.
var (
	sslRequest = Preamble{Name: "SSLRequest", Match: []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, Action: PreambleTLS, Reply: []byte("S")}
	startup    = Preamble{Name: "StartupMessage", Match: []byte{0, 0, 0, 0, 0, 3, 0, 0}, Mask: []byte{0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, Action: PreamblePlaintext}
	cancelReq  = Preamble{Name: "CancelRequest", Match: []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e}, Length: 16, Action: PreambleOutOfBand, KeyTagOffset: 12}
)

func TestPreambleMatches(t *testing.T) {
	tests := []struct {
		name string
		p    Preamble
		head []byte
		want bool
	}{
		{"SSLRequest", sslRequest, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, true},
		{"GSSENCRequest is not SSLRequest", sslRequest, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}, false},
		{"a startup of any length", startup, []byte{0, 0, 0x01, 0x2a, 0, 3, 0, 0}, true},
		{"a startup of protocol 2", startup, []byte{0, 0, 0x01, 0x2a, 0, 2, 0, 0}, false},
		{"too few bytes", sslRequest, []byte{0, 0, 0, 8}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Matches(tt.head); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
	if cancelReq.Size() != 16 || sslRequest.Size() != 8 {
		t.Fatalf("sizes %d and %d", cancelReq.Size(), sslRequest.Size())
	}
}

func TestPreambleOverlaps(t *testing.T) {
	tls := Preamble{Name: "TLS", Match: []byte{0x16}, Action: PreambleTLS}
	tests := []struct {
		name string
		a, b Preamble
		want bool
	}{
		{"the same preamble", sslRequest, sslRequest, true},
		{"SSLRequest and CancelRequest differ in length and code", sslRequest, cancelReq, false},
		{"a startup's mask covers SSLRequest's length bytes but not its code", startup, sslRequest, false},
		{"a prefix overlaps what it starts", Preamble{Name: "zero", Match: []byte{0}, Action: PreambleTLS}, sslRequest, true},
		{"TLS's first byte is no PostgreSQL preamble's", tls, sslRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Overlaps(tt.b); got != tt.want {
				t.Fatalf("Overlaps = %v, want %v", got, tt.want)
			}
			if got := tt.b.Overlaps(tt.a); got != tt.want {
				t.Fatalf("Overlaps is not symmetric: %v", got)
			}
		})
	}
}

func TestPreambleValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Preamble
		ok   bool
	}{
		{"SSLRequest", sslRequest, true},
		{"a masked startup", startup, true},
		{"no bytes", Preamble{Name: "x", Action: PreambleTLS}, false},
		{"no action", Preamble{Name: "x", Match: []byte{1}}, false},
		{"a mask longer than the match", Preamble{Name: "x", Match: []byte{1}, Mask: []byte{1, 1}, Action: PreambleTLS}, false},
		{"a length shorter than the match", Preamble{Name: "x", Match: []byte{1, 2}, Length: 1, Action: PreambleTLS}, false},
		{"a match of bits the mask clears", Preamble{Name: "x", Match: []byte{3}, Mask: []byte{1}, Action: PreambleTLS}, false},
		{"a cancel routed by its key", cancelReq, true},
		{"a key tag at the very end", Preamble{Name: "x", Match: []byte{1}, Length: 4, Action: PreambleOutOfBand, KeyTagOffset: 2}, true},
		{"a key tag past the end", Preamble{Name: "x", Match: []byte{1}, Length: 4, Action: PreambleOutOfBand, KeyTagOffset: 3}, false},
		{"a negative key tag offset", Preamble{Name: "x", Match: []byte{1}, Length: 4, Action: PreambleOutOfBand, KeyTagOffset: -1}, false},
		{"a key tag on a preamble that starts a session", Preamble{Name: "x", Match: []byte{1}, Length: 4, Action: PreambleTLS, KeyTagOffset: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSpecTravelsWhole(t *testing.T) {
	spec := ProtocolSpec{
		Names: []string{"postgres"}, Preambles: []Preamble{sslRequest, startup, cancelReq}, OwnPort: false,
		Client: ClientSpec{Command: "psql", Args: []string{"{{.Host}}"}, Env: map[string]string{"PGUSER": "{{.DBUser}}"}, Config: "c", Install: "apt-get install postgresql-client"},
	}
	if got := SpecFromProto(SpecToProto(spec)); !reflect.DeepEqual(got, spec) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, spec)
	}
}

// checked is a protocol plugin with a health check of its own.
type checked struct {
	fakeProtocol
	problem error
}

func (c checked) CheckDatabase(context.Context, *Database) error { return c.problem }

// fakeProtocol serves no sessions.
type fakeProtocol struct{}

func (fakeProtocol) Info() Info                                        { return Info{Name: "fake", Kind: KindProtocol} }
func (fakeProtocol) ConfigSchema() Schema                              { return Schema{} }
func (fakeProtocol) Configure(context.Context, ConfigureRequest) error { return nil }
func (fakeProtocol) Health(context.Context) error                      { return nil }
func (fakeProtocol) ServeSession(context.Context, *Session)            {}

func TestCheckDatabase(t *testing.T) {
	db := &pluginv1.CheckDatabaseRequest{Database: &pluginv1.Database{Name: "d", Uri: "127.0.0.1:1"}}
	tests := []struct {
		name string
		impl ProtocolPlugin
		want *pluginv1.CheckDatabaseResponse
	}{
		{"healthy", checked{}, &pluginv1.CheckDatabaseResponse{}},
		{"a problem", checked{problem: errors.New("refuses TLS")}, &pluginv1.CheckDatabaseResponse{Problem: "refuses TLS"}},
		{"no check of its own", fakeProtocol{}, &pluginv1.CheckDatabaseResponse{Unsupported: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newProtocolServer(tt.impl, nil, nil)
			got, err := s.CheckDatabase(context.Background(), db)
			if err != nil || got.GetProblem() != tt.want.GetProblem() || got.GetUnsupported() != tt.want.GetUnsupported() {
				t.Fatalf("CheckDatabase = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if got := specOf(fakeProtocol{}); !reflect.DeepEqual(got.Names, []string{"fake"}) {
		t.Fatalf("a plugin without a spec serves %v", got.Names)
	}
}
