package supervisor

import (
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

// declaring is an instance of a protocol plugin that declared spec.
func declaring(name string, spec sdk.ProtocolSpec) *Instance {
	return &Instance{spec: Spec{Name: name}, info: Info{Name: name, Kind: sdk.KindProtocol, Spec: &spec}}
}

func TestCheckProtocols(t *testing.T) {
	ssl := sdk.Preamble{Name: "SSLRequest", Match: []byte{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f}, Action: sdk.PreambleTLS, Reply: []byte("S")}
	zero := sdk.Preamble{Name: "Hello", Match: []byte{0}, Action: sdk.PreambleTLS}
	other := sdk.Preamble{Name: "Other", Match: []byte{1, 2}, Action: sdk.PreambleTLS}
	tests := []struct {
		name  string
		ins   []*Instance
		wants []string // parts of the error; none when the plugins fit together
	}{
		{"different names and preambles", []*Instance{
			declaring("postgres", sdk.ProtocolSpec{Names: []string{"postgres"}, Preambles: []sdk.Preamble{ssl}}),
			declaring("mysql", sdk.ProtocolSpec{Names: []string{"mysql"}, OwnPort: true}),
			declaring("custom", sdk.ProtocolSpec{Names: []string{"custom"}, Preambles: []sdk.Preamble{other}}),
		}, nil},
		{"one protocol name twice", []*Instance{
			declaring("mysql", sdk.ProtocolSpec{Names: []string{"mysql"}}),
			declaring("mysql-fork", sdk.ProtocolSpec{Names: []string{"mariadb", "mysql"}}),
		}, []string{`plugins "mysql" and "mysql-fork" both declare protocol "mysql"`}},
		{"overlapping preambles", []*Instance{
			declaring("postgres", sdk.ProtocolSpec{Names: []string{"postgres"}, Preambles: []sdk.Preamble{ssl}}),
			declaring("greedy", sdk.ProtocolSpec{Names: []string{"greedy"}, Preambles: []sdk.Preamble{zero}}),
		}, []string{`preamble "SSLRequest" of plugin "postgres"`, `preamble "Hello" of plugin "greedy"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkProtocols(tt.ins)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("the plugins were accepted together")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestProtocolFindsThePluginByAnyOfItsNames(t *testing.T) {
	s := &Supervisor{instances: []*Instance{
		declaring("postgres", sdk.ProtocolSpec{Names: []string{"postgres"}}),
		declaring("maria", sdk.ProtocolSpec{Names: []string{"mysql", "mariadb"}}),
		{spec: Spec{Name: "ca-vault"}, info: Info{Name: "ca-vault", Kind: sdk.KindCA}},
	}}
	for name, want := range map[string]string{"postgres": "postgres", "mysql": "maria", "mariadb": "maria"} {
		in, err := s.Protocol(name)
		if err != nil || in.Name() != want {
			t.Errorf("Protocol(%q) = %v, %v; want plugin %q", name, in, err, want)
		}
	}
	if _, err := s.Protocol("ca-vault"); err == nil {
		t.Error("a CA plugin was taken for a protocol")
	}
}
