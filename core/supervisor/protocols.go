package supervisor

import (
	"errors"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// protocolSpec reads the spec a protocol plugin declared. A plugin built
// with an SDK that declares none serves the protocol of its own name.
func protocolSpec(name string, info Info, wire *pluginv1.ProtocolSpec) (*sdk.ProtocolSpec, error) {
	spec := sdk.SpecFromProto(wire)
	if len(spec.Names) == 0 {
		spec.Names = []string{info.Name}
	}
	for _, p := range spec.Preambles {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("plugin %q declares a preamble keyway cannot match: %w", name, err)
		}
	}
	return &spec, nil
}

// Protocol is a protocol and the plugin that serves it.
type Protocol struct {
	Name     string
	Spec     sdk.ProtocolSpec
	Instance *Instance
}

// Protocols lists the protocols the running plugins declared, in launch
// order, each under each of its names.
func (s *Supervisor) Protocols() []Protocol {
	s.mu.Lock()
	defer s.mu.Unlock()
	return protocolsOf(s.instances)
}

func protocolsOf(instances []*Instance) []Protocol {
	var out []Protocol
	for _, in := range instances {
		spec := in.Info().Spec
		if spec == nil {
			continue
		}
		for _, name := range spec.Names {
			out = append(out, Protocol{Name: name, Spec: *spec, Instance: in})
		}
	}
	return out
}

// Protocol returns the plugin that serves the protocol called name.
func (s *Supervisor) Protocol(name string) (*Instance, error) {
	for _, p := range s.Protocols() {
		if p.Name == name {
			return p.Instance, nil
		}
	}
	return nil, fmt.Errorf("no protocol plugin serves %q here", name)
}

// checkProtocols refuses plugins that declare the same protocol name or
// preambles that a client's first bytes could match both of, naming both
// plugins: the proxy could not tell which plugin a client is for.
func checkProtocols(instances []*Instance) error {
	var errs []error
	ps := protocolsOf(instances)
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if a.Instance == b.Instance {
				continue
			}
			if a.Name == b.Name {
				errs = append(errs, fmt.Errorf("plugins %q and %q both declare protocol %q; keep one of them", a.Instance.Name(), b.Instance.Name(), a.Name))
			}
		}
	}
	seen := map[*Instance]bool{}
	var specs []*Instance
	for _, p := range ps {
		if !seen[p.Instance] {
			seen[p.Instance] = true
			specs = append(specs, p.Instance)
		}
	}
	for i, a := range specs {
		for _, b := range specs[i+1:] {
			for _, pa := range a.Info().Spec.Preambles {
				for _, pb := range b.Info().Spec.Preambles {
					if pa.Overlaps(pb) {
						errs = append(errs, fmt.Errorf("preamble %q of plugin %q and preamble %q of plugin %q could match the same client bytes; the proxy could not tell which plugin a client is for", pa.Name, a.Name(), pb.Name, b.Name()))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}
