package proxy

import (
	"errors"
	"io"

	"github.com/keyway-dev/keyway/sdk"
)

// Protocol is a protocol as its plugin declared it: the preambles its
// clients may send first on the shared port.
type Protocol struct {
	Name      string
	Preambles []sdk.Preamble
}

// ProtocolNames lists the protocols whose preambles the shared port
// matches.
func (p *Proxy) ProtocolNames() []string {
	names := make([]string, 0, len(p.Protocols))
	for _, pr := range p.Protocols {
		names = append(names, pr.Name)
	}
	return names
}

// match is a preamble and the protocol that declared it.
type match struct {
	protocol string
	preamble sdk.Preamble
}

// errUnknownPreamble is a client whose first bytes no plugin declared.
var errUnknownPreamble = errors.New("no protocol plugin declared these first bytes")

// sniff reads a client's first bytes, from head on, until they match
// exactly one declared preamble, and then the rest of that preamble. It
// reads no byte more than the candidates still in the running need, so a
// client that sends a short preamble and waits for the answer is not
// kept waiting. The plugins' preambles cannot overlap (the supervisor
// refuses plugins whose preambles do), so at most one matches.
func sniff(r io.Reader, head []byte, protocols []Protocol) (match, []byte, error) {
	var candidates []match
	for _, p := range protocols {
		for _, pre := range p.Preambles {
			candidates = append(candidates, match{protocol: p.Name, preamble: pre})
		}
	}
	for {
		still := candidates[:0:0]
		need := 0
		for _, c := range candidates {
			if !c.preamble.Consistent(head) {
				continue
			}
			if len(c.preamble.Match) <= len(head) {
				rest := c.preamble.Size() - len(head)
				if rest > 0 {
					more := make([]byte, rest)
					if _, err := io.ReadFull(r, more); err != nil {
						return match{}, nil, err
					}
					head = append(head, more...)
				}
				return c, head, nil
			}
			still = append(still, c)
			if n := len(c.preamble.Match); need == 0 || n < need {
				need = n
			}
		}
		if len(still) == 0 {
			return match{}, head, errUnknownPreamble
		}
		candidates = still
		more := make([]byte, need-len(head))
		if _, err := io.ReadFull(r, more); err != nil {
			return match{}, nil, err
		}
		head = append(head, more...)
	}
}
