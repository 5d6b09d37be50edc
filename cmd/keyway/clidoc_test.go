package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docSection is one "### " section of docs/cli.md: its heading, the
// text under it, and the introduction of the "## " part it is in, which
// names flags its commands share.
type docSection struct{ heading, body, intro string }

func cliDocSections(t *testing.T) (sections []docSection, global string) {
	t.Helper()
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	for part := range strings.SplitSeq("\n"+string(b), "\n## ") {
		if strings.HasPrefix(part, "Global flags") {
			global = part
		}
		parts := strings.Split(part, "\n### ")
		for _, s := range parts[1:] {
			heading, body, _ := strings.Cut(s, "\n")
			sections = append(sections, docSection{heading, body, parts[0]})
		}
	}
	return sections, global
}

// documents reports whether a section's heading names the command with
// path words: "keyway users add" or a list such as "keyway users add |
// ls | update | rm".
func (s docSection) documents(words []string) bool {
	if strings.Contains(s.heading, "keyway "+strings.Join(words, " ")) {
		return true
	}
	parent, leaf := strings.Join(words[:len(words)-1], " "), words[len(words)-1]
	if parent == "" || !strings.Contains(s.heading, "keyway "+parent+" ") {
		return false
	}
	return regexp.MustCompile(`[|` + "`" + ` ]` + regexp.QuoteMeta(leaf) + `[|` + "`" + ` ]`).MatchString(s.heading)
}

// TestCLIDocCoversEveryCommandAndFlag keeps docs/cli.md in step with the
// commands: every command has a section, and each of its own flags is
// named in that section (or, for the root's flags, under Global flags).
func TestCLIDocCoversEveryCommandAndFlag(t *testing.T) {
	sections, global := cliDocSections(t)
	root := newRootCmd()
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && !strings.Contains(global, "--"+f.Name) {
			t.Errorf("docs/cli.md: Global flags does not name --%s", f.Name)
		}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
		if c == root || !c.Runnable() {
			return
		}
		words := strings.Fields(strings.TrimPrefix(c.CommandPath(), "keyway "))
		var text strings.Builder
		for _, s := range sections {
			if s.documents(words) {
				text.WriteString(s.intro + "\n" + s.heading + "\n" + s.body + "\n")
			}
		}
		if text.Len() == 0 {
			t.Errorf("docs/cli.md has no section for %q", c.CommandPath())
			return
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if !namesFlag(text.String(), f) {
				t.Errorf("docs/cli.md: the section of %q does not name --%s", c.CommandPath(), f.Name)
			}
		})
	}
	walk(root)
}

// namesFlag reports whether text names the flag, by its long name or as
// its shorthand ("-c FILE").
func namesFlag(text string, f *pflag.Flag) bool {
	if strings.Contains(text, "--"+f.Name) {
		return true
	}
	return f.Shorthand != "" && regexp.MustCompile("(^|[\\s`(\\[])-"+regexp.QuoteMeta(f.Shorthand)+"([\\s`,=)\\]]|$)").MatchString(text)
}
