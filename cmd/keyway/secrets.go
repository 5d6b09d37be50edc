package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// prompter reads answers from a person at a terminal, or lines from
// stdin for scripts. Secrets are never echoed and never taken from argv.
type prompter struct {
	in     *bufio.Reader
	out    io.Writer
	stdinT bool
}

func newPrompter(stdin io.Reader, out io.Writer) *prompter {
	f, ok := stdin.(*os.File)
	return &prompter{in: bufio.NewReader(stdin), out: out, stdinT: ok && term.IsTerminal(int(f.Fd()))}
}

// secret asks for a hidden value.
func (p *prompter) secret(question string) (string, error) {
	if p.stdinT {
		fmt.Fprint(p.out, question)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(p.out)
		return string(b), err
	}
	return p.line()
}

// ask asks for a visible answer.
func (p *prompter) ask(question string) (string, error) {
	if p.stdinT {
		fmt.Fprint(p.out, question)
	}
	return p.line()
}

func (p *prompter) line() (string, error) {
	s, err := p.in.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		return "", fmt.Errorf("reading from stdin: %w", err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// readSecretFile reads a secret from a file that only its owner can read.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}
