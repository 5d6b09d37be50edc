package sdk

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// ClientCommand is a ClientSpec filled in for one connection.
type ClientCommand struct {
	// Command is the client program and Args its arguments.
	Command string
	Args    []string
	// Env are NAME=VALUE pairs for the client's environment, sorted.
	Env []string
	// Config is what keyway db config prints.
	Config string
}

// clientFuncs are the functions a ClientSpec's templates may call.
var clientFuncs = template.FuncMap{
	"join": strings.Join,
}

// Render fills the spec's templates with settings. An argument or an
// environment variable that renders empty is left out, so that a
// template can leave out what a connection does not use (a database
// name, TLS files for a local keyway proxy db).
func (c ClientSpec) Render(s ConnectSettings) (ClientCommand, error) {
	out := ClientCommand{Command: c.Command}
	render := func(what, text string) (string, error) {
		t, err := template.New(what).Funcs(clientFuncs).Option("missingkey=error").Parse(text)
		if err != nil {
			return "", fmt.Errorf("the protocol's %s template: %w", what, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, s); err != nil {
			return "", fmt.Errorf("the protocol's %s template: %w", what, err)
		}
		return b.String(), nil
	}
	for i, a := range c.Args {
		v, err := render(fmt.Sprintf("argument %d", i+1), a)
		if err != nil {
			return ClientCommand{}, err
		}
		if v != "" {
			out.Args = append(out.Args, v)
		}
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := render(name, c.Env[name])
		if err != nil {
			return ClientCommand{}, err
		}
		if v != "" {
			out.Env = append(out.Env, name+"="+v)
		}
	}
	var err error
	if out.Config, err = render("config", c.Config); err != nil {
		return ClientCommand{}, err
	}
	return out, nil
}
