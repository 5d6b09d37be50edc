package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostics renders diagnostics one per line as
// "file:line:col: summary: detail", the form editors and people expect.
func FormatDiagnostics(diags hcl.Diagnostics) string {
	lines := make([]string, 0, len(diags))
	for _, d := range diags {
		lines = append(lines, headline(d)+detailSuffix(d))
	}
	return strings.Join(lines, "\n")
}

// WriteDiagnostics prints each diagnostic with its position, the source
// line it points at, a caret under the offending text, and its detail.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(headline(d))
		b.WriteByte('\n')
		if d.Subject != nil {
			if f, ok := files[d.Subject.Filename]; ok {
				writeSnippet(&b, f.Bytes, *d.Subject)
			}
		}
		if d.Detail != "" {
			b.WriteString("  " + d.Detail + "\n")
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func headline(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	if d.Subject == nil {
		return sev + ": " + d.Summary
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary)
}

func detailSuffix(d *hcl.Diagnostic) string {
	if d.Detail == "" {
		return ""
	}
	return ": " + d.Detail
}

// writeSnippet prints the subject's first line and marks its columns.
func writeSnippet(b *strings.Builder, src []byte, r hcl.Range) {
	lines := bytes.Split(src, []byte("\n"))
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return
	}
	line := string(lines[r.Start.Line-1])
	num := fmt.Sprintf("%4d", r.Start.Line)
	fmt.Fprintf(b, "%s | %s\n", num, line)
	width := 1
	if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
		width = r.End.Column - r.Start.Column
	}
	start := min(max(r.Start.Column-1, 0), len(line))
	pad := strings.Map(func(c rune) rune {
		if c == '\t' {
			return '\t'
		}
		return ' '
	}, line[:start])
	fmt.Fprintf(b, "%s | %s%s\n", strings.Repeat(" ", len(num)), pad, strings.Repeat("^", width))
}
