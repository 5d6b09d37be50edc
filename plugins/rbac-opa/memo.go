package rbacopa

import (
	"crypto/sha256"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/keyway-dev/keyway/sdk"
)

// memoSize bounds the decisions a memo keeps; past it the memo starts
// again empty. A key is a hash, so the memo's size does not grow with
// the roles each request carries.
const memoSize = 4096

// perRequestFields are the input's fields that differ between two
// connections of the same request: when it was made and from where. A
// policy that reads neither decides them alike.
var perRequestFields = []string{"time", "client"}

// timeDependent are built-ins whose answer depends on the clock although
// OPA does not mark them non-deterministic: certificate validity is
// checked against the current time.
var timeDependent = []string{
	"crypto.x509.parse_and_verify_certificates",
	"crypto.x509.parse_and_verify_certificates_with_options",
}

// memo remembers the decisions of a policy that depends on the request
// alone (see requestOnly), so that a request asked again, as every new
// connection of a client asks it, is not evaluated again. It belongs to
// one compiled policy and ends with it. Safe for concurrent use.
type memo struct {
	mu        sync.Mutex
	decisions map[memoKey]sdk.Decision
}

// memoKey names a request: see keyOf.
type memoKey [sha256.Size]byte

func newMemo() *memo { return &memo{decisions: map[memoKey]sdk.Decision{}} }

// get returns the decision remembered for key.
func (m *memo) get(key memoKey) (sdk.Decision, bool) {
	m.mu.Lock()
	d, ok := m.decisions[key]
	m.mu.Unlock()
	if ok {
		d.Reasons = slices.Clone(d.Reasons)
	}
	return d, ok
}

// put remembers d for key.
func (m *memo) put(key memoKey, d sdk.Decision) {
	d.Reasons = slices.Clone(d.Reasons)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.decisions) >= memoSize {
		clear(m.decisions)
	}
	m.decisions[key] = d
}

// keyOf names a request by its input document without the fields that
// differ between connections: the hash of the remaining fields' text.
// Each term's text is self-delimiting (strings are quoted, collections
// bracketed), so two documents share a text only when they are equal but
// for those fields.
func keyOf(doc ast.Object) memoKey {
	var b strings.Builder
	doc.Foreach(func(k, v *ast.Term) {
		if s, ok := k.Value.(ast.String); ok && slices.Contains(perRequestFields, string(s)) {
			return
		}
		b.WriteString(k.String())
		b.WriteByte(':')
		b.WriteString(v.String())
		b.WriteByte(',')
	})
	return sha256.Sum256([]byte(b.String()))
}

// requestOnly reports whether the compiled modules decide by the request
// alone: they read no per-request field of the input (nor the input
// whole, nor a field chosen at evaluation time), and call no built-in
// whose answer changes from one call to the next (the clock, the
// network, randomness). Such a policy's decision for a request is the
// same every time it is asked, until the policy is compiled again.
func requestOnly(modules map[string]*ast.Module) bool {
	pure := true
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if !pure {
			return true
		}
		switch v := x.(type) {
		case ast.Ref:
			if !refReadsRequestOnly(v) {
				pure = false
				return true
			}
			// The head is checked; what the rest holds (a nested
			// reference, a call) is walked, and the head too unless it
			// is a plain name.
			for i, t := range v {
				if _, name := t.Value.(ast.Var); i > 0 || !name {
					vis.Walk(t)
				}
			}
			return true
		case ast.Var:
			// A bare input outside a reference: the document whole.
			if v.Equal(ast.InputRootDocument.Value) {
				pure = false
			}
		}
		return false
	})
	for _, m := range modules {
		vis.Walk(m)
	}
	return pure
}

// refReadsRequestOnly reports whether ref is neither a read of the input
// that may reach a per-request field nor a call of a built-in that
// varies.
func refReadsRequestOnly(ref ast.Ref) bool {
	if ref[0].Equal(ast.InputRootDocument) {
		if len(ref) < 2 {
			return false
		}
		field, ok := ref[1].Value.(ast.String)
		return ok && !slices.Contains(perRequestFields, string(field))
	}
	name := ref.String()
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return false
	}
	return !slices.Contains(timeDependent, name)
}
